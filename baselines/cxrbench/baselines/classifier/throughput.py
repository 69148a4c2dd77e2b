"""Loader-only and training-step throughput, measured separately so input-boundness is visible.

The loader side is everything that produces a training batch on the device (gather uint8 rows,
copy, scale, resize, augment); the step side is forward, backward, optimizer and EMA update on a
ready batch. If the loader's images/s are far above the step's, training is not input-bound.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import torch

from cxrbench.baselines.classifier.augment import augment
from cxrbench.baselines.classifier.loader import BatchLoader
from cxrbench.baselines.classifier.metrics import masked_bce
from cxrbench.baselines.classifier.recipe import Recipe


def loader_batch_fn(recipe: Recipe, n_images: int = 4096, stored_size: int | None = None,
                    n_labels: int = 14, device: str = "cpu", seed: int = 0) -> Callable[[], int]:
    """A function that produces one augmented training batch and returns its size."""
    from cxrbench.baselines.classifier.data import LabeledImages

    size = stored_size or recipe.image_size
    rng = np.random.default_rng(seed)
    data = LabeledImages(rng.integers(0, 256, (n_images, size, size), dtype=np.uint8),
                         rng.integers(0, 2, (n_images, n_labels)).astype(np.float32),
                         np.arange(n_images).astype(str), tuple(f"l{i}" for i in range(n_labels)))
    loader = BatchLoader([data], [data.labels], recipe.batch_size, recipe.image_size, device)
    generator = torch.Generator(device=device).manual_seed(seed)
    state = {"epoch": 0, "it": iter(())}

    def one_batch() -> int:
        try:
            x, y = next(state["it"])
        except StopIteration:
            state["epoch"] += 1
            state["it"] = loader.epoch(seed, state["epoch"])
            x, y = next(state["it"])
        x = augment(x, recipe, generator)
        if x.device.type == "cuda":
            torch.cuda.synchronize()
        return x.shape[0]

    return one_batch


def train_step_fn(recipe: Recipe, n_labels: int = 14, device: str = "cpu", seed: int = 0) -> Callable[[], int]:
    """A function that runs one optimizer step (with EMA) on a fixed batch and returns its size."""
    from cxrbench.baselines.classifier.backbones import create_backbone
    from cxrbench.baselines.classifier.model import _autocast
    from cxrbench.baselines.classifier.train import _ema, _optimizer

    torch.manual_seed(seed)
    dev = torch.device(device)
    model = create_backbone(recipe.backbone, n_labels, drop_rate=recipe.drop_rate).to(dev).train()
    optimizer, ema = _optimizer(model, recipe), _ema(model, recipe)
    x = torch.randn(recipe.batch_size, 1, recipe.image_size, recipe.image_size, device=dev)
    y = torch.randint(0, 2, (recipe.batch_size, n_labels), device=dev).float()
    count = {"step": 0}

    def one_step() -> int:
        with _autocast(dev, recipe):
            loss = masked_bce(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        count["step"] += 1
        if ema is not None:
            ema.update(model, step=count["step"])
        if dev.type == "cuda":
            torch.cuda.synchronize()
        return x.shape[0]

    return one_step


def images_per_second(fn: Callable[[], int], min_seconds: float = 2.0, min_calls: int = 3, warmup: int = 1) -> float:
    """Run `fn` (after `warmup` calls) until both `min_seconds` and `min_calls` are reached."""
    for _ in range(warmup):
        fn()
    images, calls, started = 0, 0, time.perf_counter()
    while calls < min_calls or time.perf_counter() - started < min_seconds:
        images += fn()
        calls += 1
    return images / (time.perf_counter() - started)
