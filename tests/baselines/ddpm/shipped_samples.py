"""Samples of the shipped tiny-32 weights for the golden tests: `condition_table(12, seed=4)`, seeds
100..111, batch 16, fp32, one thread, one case per sampler family.

    python tests/baselines/ddpm/shipped_samples.py OUT.npz [--noise] # draw them here (+ the DDPM's step noise)
    python tests/baselines/ddpm/shipped_samples.py --write-goldens  # after retraining tiny-32
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

GOLDEN = Path(__file__).with_name("golden") / "tiny32_samples.npz"
#: (sampler, steps, guidance): the deterministic multistep solver, DDIM with guidance, stochastic DDPM
CASES = (("dpmpp-2m", 10, 0.0), ("ddim", 8, 1.5), ("ddpm", 6, 0.0))


def name(case: tuple) -> str:
    sampler, steps, guidance = case
    return f"{sampler}-{steps}-g{guidance:g}"


def draw(case: tuple) -> np.ndarray:
    import torch

    from cxrbench.baselines.ddpm import ReferenceGenerator

    sys.path.insert(0, str(Path(__file__).parent))
    from ddpm_helpers import condition_table

    sampler, steps, guidance = case
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        generator = ReferenceGenerator.from_pretrained("tiny-32", sampler=sampler, steps=steps, guidance=guidance,
                                                       batch_size=16)
        return generator.generate(condition_table(12, seed=4), np.arange(100, 112, dtype=np.int64), 32)
    finally:
        torch.set_num_threads(before)


def goldens() -> dict[str, np.ndarray]:
    with np.load(GOLDEN) as data:
        return {key: data[key] for key in data.files}


def step_noise() -> np.ndarray:
    """The DDPM's counter noise of those seeds for steps 0..5, float32 (6, 12, 1024)."""
    import torch

    from cxrbench.baselines.ddpm.noise import counter_normal, image_keys, seed_words

    keys = image_keys(seed_words(np.arange(100, 112)))
    return torch.stack([counter_normal(keys, torch.tensor(step), torch.arange(1024)) for step in range(6)]).numpy()


def main(argv: list[str]) -> None:
    import torch

    out = GOLDEN if argv == ["--write-goldens"] else Path(argv[0])
    out.parent.mkdir(parents=True, exist_ok=True)
    arrays = {name(case): draw(case) for case in CASES}
    if "--noise" in argv:
        arrays["noise"] = step_noise()
    np.savez_compressed(out, **arrays)
    print(torch.backends.cpu.get_cpu_capability())  # the instruction set ATen dispatched to


if __name__ == "__main__":
    main(sys.argv[1:])
