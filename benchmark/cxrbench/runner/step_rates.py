"""A classifier recipe's images/s on this machine (training step; forward pass), timed once and kept.

`evaluate --dry-run` estimates training time from these rates. Timing a recipe means building
its backbone (importing timm) and running a few steps: seconds a dry run should not spend on
every call. So the rates are timed the first time a machine is asked for them and kept in the
cache under `rates/`, keyed on what they depend on: the processor (or GPU) model, torch's
version, the thread count and the recipe. A different machine, torch or recipe times again;
`force` (`evaluate --force`) always times again.
"""

from __future__ import annotations

import json
import os
import platform
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from cxrbench.runner.cache import stable_hash

RATES_FOLDER = "rates"


@dataclass(frozen=True)
class StepRates:
    """Images per second of one recipe: a training step (with EMA) and a forward pass."""

    train: float
    forward: float
    machine: str  # what the rates were timed on, in words
    measured_at: str  # ISO time of the timing
    cached: bool = False  # read from the cache rather than timed by this call


@lru_cache(maxsize=1)
def processor_model() -> str:
    """The CPU's model name (`/proc/cpuinfo`), else what `platform` says."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown processor"


def _torch_version() -> str:
    try:
        return version("torch")
    except PackageNotFoundError:  # a source build: ask the module itself
        import torch

        return str(torch.__version__)


def machine(device: str, threads: int | None) -> str:
    """The hardware and software a rate depends on, in words (also the cache key's machine part)."""
    if not threads and not device.startswith("cuda"):
        import torch

        threads = torch.get_num_threads()  # no thread count given: torch's own choice
    if device.startswith("cuda"):
        import torch

        hardware = f"GPU {torch.cuda.get_device_name(torch.device(device))}"
    else:
        hardware = f"{processor_model()}, {threads} thread{'' if threads == 1 else 's'}"
    return f"{hardware} · torch {_torch_version()}"


def _recipe_identity(recipe) -> dict:
    return {"name": recipe.name, "version": recipe.version, "backbone": recipe.backbone,
            "image_size": recipe.image_size, "batch_size": recipe.batch_size}


def time_recipe(recipe, device: str, threads: int | None) -> tuple[float, float]:
    """(training-step images/s, forward images/s) of `recipe`, timed now: the best of three short windows each."""
    import torch

    from cxrbench.baselines.classifier.backbones import create_backbone
    from cxrbench.baselines.classifier.throughput import images_per_second, train_step_fn

    def best_of(fn, windows: int = 3, seconds: float = 0.15) -> float:
        # the least disturbed of a few short windows: a rate kept for later runs should not be one
        # that a neighbouring process happened to slow down
        return max(images_per_second(fn, min_seconds=seconds, min_calls=2, warmup=1 if i == 0 else 0)
                   for i in range(windows))

    previous = torch.get_num_threads()
    if device == "cpu" and threads:
        torch.set_num_threads(threads)  # the thread count a training job runs with
    try:
        train = best_of(train_step_fn(recipe, device=device))
        model = create_backbone(recipe.backbone, 14, drop_rate=recipe.drop_rate).to(device).eval()
        x = torch.randn(recipe.batch_size, 1, recipe.image_size, recipe.image_size, device=device)

        @torch.inference_mode()
        def forward() -> int:
            model(x)
            return x.shape[0]

        return train, best_of(forward)
    finally:
        torch.set_num_threads(previous)


def recipe_rates(recipe, device: str, threads: int | None, cache_root: Path, *, force: bool = False) -> StepRates:
    """The rates of `recipe` on this machine: from `cache_root/rates/` when timed there before
    (unless `force`), else timed now and kept there. A cache that cannot be written still answers."""
    where = machine(device, threads)
    path = Path(cache_root) / RATES_FOLDER / f"{stable_hash({'machine': where, **_recipe_identity(recipe)})}.json"
    if not force:
        try:
            kept = json.loads(path.read_text())
            return StepRates(float(kept["train"]), float(kept["forward"]), kept["machine"], kept["measured_at"],
                             cached=True)
        except (OSError, ValueError, KeyError, TypeError):
            pass  # never timed here, or unreadable: time it
    train, forward = time_recipe(recipe, device, threads)
    rates = StepRates(train, forward, where, datetime.now(timezone.utc).isoformat(timespec="seconds"))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        kept = {k: v for k, v in asdict(rates).items() if k != "cached"}
        tmp.write_text(json.dumps({**kept, "recipe": _recipe_identity(recipe)}, indent=1))
        os.replace(tmp, path)  # whole or absent: a concurrent reader never sees half a file
    except OSError:
        pass
    return rates
