"""The reference DDPM trained on a 5,000-patient population: shipped tiny-32 weights, DPM-Solver++(2M)
50 steps, guidance 0.5 (where those weights meet the audit's targets: FD 2.63, adherence 0.766, no
memorization flag; their model card)."""

from cxrbench.baselines.ddpm.submission import ShippedGenerator


class Generator(ShippedGenerator):
    WEIGHTS, SAMPLER, STEPS, GUIDANCE = "tiny-32", "dpmpp-2m", 50, 0.5
