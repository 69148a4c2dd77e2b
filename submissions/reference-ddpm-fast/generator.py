"""The reference DDPM as a submission: shipped tiny-32 weights, DPM-Solver++(2M), fast (10 steps, no guidance)."""

from cxrbench.baselines.ddpm import ReferenceGenerator

# 10 DPM-Solver++ steps, no guidance (as the study sampled): 10x faster than `reference-ddpm`, for `make demo`
# on a CPU; FD 8.55, adherence 0.742, memorization flag from the pixel check (model card). bf16 ~2x faster
# on CPU. `from_pretrained` checks the weights against the card's sha256, and the submission's hash covers
# them (`reference_weights` in submission.yaml).
PRESET, SAMPLER, STEPS, GUIDANCE, DTYPE = "tiny-32", "dpmpp-2m", 10, 0.0, "bfloat16"


class Generator:
    def __init__(self, device: str = "cpu"):
        self.model = ReferenceGenerator.from_pretrained(PRESET, device=device, sampler=SAMPLER, steps=STEPS,
                                                       guidance=GUIDANCE, dtype=DTYPE if device == "cpu" else None)

    def generate(self, conditions, seeds, size):
        return self.model.generate(conditions, seeds, size)
