"""Leakage detection under simple evasions, and its false positives on honest generators
(docs/audit.md's evasion table).

400 test films of a task's eval sets (seeded draw), each transformed as a leaking generator might
hand them back, are checked against every eval film as the audit checks a synthetic set: the share
flagged by the registered pixel distance and by plain pixel space (the check before it). Honest
generators' first replicas, from the cache or generated, give the false positives at the same
thresholds.

    OMP_NUM_THREADS=1 .venv/bin/python docs/experiments/leakage_evasions.py \\
        --generator submissions/phantom-oracle --generator submissions/reference-ddpm-fast
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from cxrbench.audit import AuditConfig, PixelExtractor
from cxrbench.audit.leakage import leakage_in_space, registered_leakage
from cxrbench.audit.memorization import calibrate


def _clip(x) -> np.ndarray:
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def _shift(x: np.ndarray, dy: int, dx: int) -> np.ndarray:
    s = x.shape[-1]
    return x[:, np.clip(np.arange(s) - dy, 0, s - 1)][:, :, np.clip(np.arange(s) - dx, 0, s - 1)]


def _rotate(x: np.ndarray, degrees: float) -> np.ndarray:
    t = torch.from_numpy(x.astype(np.float32))[:, None]
    a = np.deg2rad(degrees)
    theta = torch.tensor([[np.cos(a), -np.sin(a), 0.0], [np.sin(a), np.cos(a), 0.0]], dtype=torch.float32)
    grid = F.affine_grid(theta[None].expand(len(x), 2, 3), list(t.shape), align_corners=False)
    return _clip(F.grid_sample(t, grid, padding_mode="border", align_corners=False)[:, 0].numpy())


def _blur(x: np.ndarray, sigma: float) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    return _clip(gaussian_filter(x.astype(np.float32), sigma=(0, sigma, sigma), mode="nearest"))


def evasions(films: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    noise = lambda a: _clip(films.astype(np.int16) + rng.integers(-a, a + 1, films.shape))  # noqa: E731
    mean = films.mean(axis=(1, 2), keepdims=True)
    return {
        "exact copy": films,
        "shift 1 px": _shift(films, 1, 0),
        "shift 4 px (4, -3)": _shift(films, 4, -3),
        "mirrored left-right": films[:, :, ::-1].copy(),
        "brightness +10": _clip(films.astype(np.int16) + 10),
        "contrast x0.8": _clip((films - mean) * 0.8 + mean),
        "noise ±12": noise(12),
        "noise ±16": noise(16),
        "shift 2 px + brightness +10 + noise ±8": _clip(_shift(films, 2, 2).astype(np.int16) + 10
                                                        + rng.integers(-8, 9, films.shape)),
        "blur σ 1 px": _blur(films, 1.0),
        "rotation 3°": _rotate(films, 3.0),
    }


def load(task: str, budget: str, cache_root: Path, generators: list[str]):
    """The task's conditioning and eval films, and each generator's first replica."""
    from rich.progress import Progress

    from cxrbench.runner.cache import Cache
    from cxrbench.runner.datasets import load_eval_set
    from cxrbench.runner.evaluate import RunOptions, TaskRun
    from cxrbench.submissions import load_submission
    from cxrbench.tasking import get_task

    spec = get_task(task)
    opts = RunOptions(budget=budget, cache_root=cache_root, device="cpu")
    replicas = {}
    with Progress() as progress:
        for i, folder in enumerate(generators):
            sub = load_submission(folder)
            sub.sha256()
            run = TaskRun(sub, spec, opts, Cache(cache_root), progress)
            if i == 0:
                conditioning = run._real(spec.conditions_from, run.budget.max_train_images)
                eval_sets = [load_eval_set(n, ref, run.budget, run.store_root, opts.population)
                             for n, ref in spec.eval_sets.items()]
            replicas[sub.name] = np.asarray(run.generate(conditioning)[0].pixels)
    train = np.asarray(conditioning.pixels)
    patients = conditioning.rows["patient_id"].astype(str).to_numpy()
    return train, patients, np.concatenate([np.asarray(e.pixels) for e in eval_sets]), replicas


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", default="phantom/supplement-100")
    parser.add_argument("--budget", default="quick")
    parser.add_argument("--cache", type=Path, default=Path(".cxrbench-cache"))
    parser.add_argument("--generator", action="append", required=True, help="honest generator folder (repeat)")
    parser.add_argument("--films", type=int, default=400, help="leaked films per transform (0: honest generators only)")
    parser.add_argument("--part", default="1/1", help="K/N: only every N-th transform from the K-th (parallel runs)")
    parser.add_argument("--honest-films", type=int, default=None,
                        help="check this many films of each honest replica (seeded draw; default all, 0 none)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    train, patients, test, replicas = load(args.task, args.budget, args.cache, args.generator)
    rng = np.random.default_rng(0)
    films = test[np.sort(rng.choice(len(test), args.films, replace=False))] if args.films else None
    config = AuditConfig()
    pixel = PixelExtractor(config.pixel_side)
    pixel_cal, _ = calibrate(pixel(train), patients, "pixels", max_queries=config.max_calibration_queries)
    test_pixels = pixel(test)

    def check(images: np.ndarray) -> tuple[int, int]:
        registered = registered_leakage(
            images, train, test, duplicate_quantile=config.duplicate_quantile,
            duplicate_factor=config.duplicate_factor, max_queries=config.max_registered_queries,
            max_shift_px=config.leakage_max_shift_px, seed=config.seed)
        plain = leakage_in_space(pixel(images), test_pixels, pixel_cal)
        return registered.n_near_duplicate, plain.n_near_duplicate

    print(f"{args.task} ({args.budget}): {len(train)} training films, {len(test)} eval films, "
          f"{args.films} leaked films per transform")
    print("| transform | registered pixels | pixel space |\n|---|---|---|")
    k, n = (int(v) for v in args.part.split("/"))
    for name, images in list((evasions(films, rng) if films is not None else {}).items())[k - 1::n]:
        tick = time.perf_counter()
        registered, plain = check(images)
        print(f"| {name} | {registered / len(images):.1%} | {plain / len(images):.1%} |  "
              f"({time.perf_counter() - tick:.0f} s)", flush=True)
    print("| honest generator | flagged, registered pixels | flagged, pixel space |\n|---|---|---|")
    for name, images in replicas.items():
        if args.honest_films is not None and args.honest_films < len(images):
            if args.honest_films == 0:
                continue
            images = images[np.sort(np.random.default_rng(1).choice(len(images), args.honest_films, replace=False))]
        registered, plain = check(images)
        print(f"| {name} | {registered} of {len(images)} | {plain} of {len(images)} |", flush=True)


if __name__ == "__main__":
    main()
