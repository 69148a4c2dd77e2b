"""One process of a 2-process CPU DDP job (gloo) for test_distributed_training.py: a tiny classifier and
a micro DDPM train a few steps under `Distributed.from_launch()`; each rank saves what it got."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

# tests/baselines is on sys.path (no __init__.py there)
from classifier.toy import toy_set
from ddpm.ddpm_helpers import MICRO, two_class_images

CLASSIFIER = dict(max_epochs=2, batch_size=32, epoch_images=None)  # quick recipe, 8 steps per epoch
DDPM_STEPS = dict(steps=6, batch_size=8, warmup_steps=2, checkpoint_every=3, log_every=1, lr=1e-3)


def classifier_data():
    return toy_set(256, 0), toy_set(96, 1, prefix="val")


def train_both(out: Path, distributed=None, accumulation_runs: tuple[int, ...] = (), resume: bool = False) -> None:
    """Train both models into `out` (files suffixed by the rank); then the DDPM again per accumulation,
    and with `resume` once more stopped half-way and resumed (ddpm-resumed)."""
    from safetensors.torch import save_file

    from cxrbench.baselines.classifier import get_recipe, train_classifier
    from cxrbench.baselines.ddpm.training import TrainSettings, train_generator
    from cxrbench.baselines.distributed import Distributed

    rank = distributed.rank if distributed is not None else 0
    train, val = classifier_data()
    clf = train_classifier(train, val, get_recipe("quick", **CLASSIFIER), seed=0, progress=False,
                           checkpoint_dir=out / "classifier-checkpoint", distributed=distributed)
    save_file({k: v.contiguous() for k, v in clf.model.state_dict().items()}, str(out / f"classifier-{rank}.safetensors"))
    (out / f"classifier-{rank}.json").write_text(json.dumps([h["train_loss"] for h in clf.info["history"]]))
    images, conds = two_class_images()
    runs = [(1, distributed)] + [(a, Distributed(distributed.accelerator, a)) for a in accumulation_runs]
    for accumulation, dist in runs:
        folder = out / f"ddpm-acc{accumulation}"
        ema = train_generator(MICRO, images, conds, TrainSettings(**DDPM_STEPS), folder, progress=False,
                              log=lambda message: None, distributed=dist)
        save_file({k: v.contiguous() for k, v in ema.state_dict().items()}, str(out / f"ddpm-acc{accumulation}-{rank}.safetensors"))
    if resume:
        settings = TrainSettings(**DDPM_STEPS)
        for stop_after in (settings.steps // 2, None):
            ema = train_generator(MICRO, images, conds, settings, out / "ddpm-resumed", progress=False,
                                  log=lambda message: None, distributed=distributed, stop_after=stop_after)
        save_file({k: v.contiguous() for k, v in ema.state_dict().items()}, str(out / f"ddpm-resumed-{rank}.safetensors"))


def run(rank: int, world: int, port: int, out: str, repeats: int, accumulation_runs: tuple[int, ...]) -> None:
    """Entry point for torch.multiprocessing (rank first), in the environment torchrun (with ACCELERATE_USE_CPU)
    gives: `repeats` runs into out/run0, out/run1, ... (the DDPM also per accumulation in the first)."""
    os.environ.update(WORLD_SIZE=str(world), RANK=str(rank), LOCAL_RANK=str(rank), LOCAL_WORLD_SIZE=str(world),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), ACCELERATE_USE_CPU="yes",
                      GLOO_SOCKET_IFNAME="lo", OMP_NUM_THREADS="1")
    torch.set_num_threads(1)
    from cxrbench.baselines.distributed import Distributed

    dist = Distributed.from_launch(1)
    for repeat in range(repeats):
        folder = Path(out) / f"run{repeat}"
        folder.mkdir(parents=True, exist_ok=True)
        train_both(folder, dist, accumulation_runs if repeat == 0 else (), resume=repeat == 0)
