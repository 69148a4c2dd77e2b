"""The reference DDPM trained on the quick tasks' own real rows: shipped tiny-32-p1k weights,
DPM-Solver++(2M) 10 steps, no guidance: the sampler of `reference-ddpm-fast`, so the two differ only
in the real patients their weights saw (their audit per sampler: the model cards' Quality sections)."""

from cxrbench.baselines.ddpm.submission import ShippedGenerator


class Generator(ShippedGenerator):
    WEIGHTS, SAMPLER, STEPS, GUIDANCE = "tiny-32-p1k", "dpmpp-2m", 10, 0.0
