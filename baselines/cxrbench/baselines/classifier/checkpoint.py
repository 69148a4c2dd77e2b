"""Training checkpoints in one safetensors file: weights, EMA, best weights, optimizer state.

Non-tensor state (epoch, early-stopping counters, history, optimizer hyper-parameters,
scheduler position) rides in the safetensors metadata as JSON; nothing is pickled.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from cxrbench.baselines.classifier.recipe import Recipe
from cxrbench.data.atomic import atomic_write_bytes
from cxrbench.errors import ConfigError

CHECKPOINT_FILE = "checkpoint.safetensors"


def save_checkpoint(directory: Path, model, ema, optimizer, scheduler, state: dict, best_weights,
                    recipe: Recipe, seed: int, label_names, layout: dict | None = None) -> None:
    """`layout`: the DDP world size and accumulation (`Distributed.layout()`), None for one process."""
    from safetensors.torch import save

    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    if ema is not None:
        tensors.update({f"ema.{k}": v for k, v in ema.module.state_dict().items()})
    if best_weights is not None:
        tensors.update({f"best.{k}": v for k, v in best_weights.items()})
    opt = optimizer.state_dict()
    scalars = {}
    for index, slots in opt["state"].items():
        for name, value in slots.items():
            if torch.is_tensor(value):
                tensors[f"opt.{index}.{name}"] = value
            else:
                scalars[f"{index}.{name}"] = value
    meta = {
        "state": state, "param_groups": opt["param_groups"], "opt_scalars": scalars,
        "scheduler": {k: v for k, v in scheduler.state_dict().items() if k != "lr_lambdas"},
        "recipe_fingerprint": recipe.fingerprint(), "seed": seed, "label_names": list(label_names),
    }
    if layout is not None:  # absent for one process, so its checkpoints are as before
        meta["layout"] = layout
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    atomic_write_bytes(directory / CHECKPOINT_FILE, save(tensors, metadata={"cxrbench": json.dumps(meta)}))


def load_checkpoint(directory: Path, model, ema, optimizer, scheduler, recipe: Recipe, seed: int,
                    label_names, layout: dict | None = None) -> tuple[dict, dict | None]:
    """Restore everything in place; returns (loop state, best weights or None)."""
    from safetensors import safe_open

    path = directory / CHECKPOINT_FILE
    with safe_open(str(path), framework="pt") as f:
        meta = json.loads(f.metadata()["cxrbench"])
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    expected = (recipe.fingerprint(), seed, list(label_names))
    found = (meta["recipe_fingerprint"], meta["seed"], meta["label_names"])
    if found != expected:
        raise ConfigError(
            f"{path}: checkpoint is for recipe {found[0]} seed {found[1]}, not recipe {expected[0]} "
            f"seed {expected[1]} (labels must match too); use another directory to start afresh"
        )
    if meta.get("layout") != layout:  # another split of the global batch follows another trajectory
        raise ConfigError(f"{path}: checkpoint was trained with {_describe(meta.get('layout'))}, this run has "
                          f"{_describe(layout)}; resume with the same layout or use another directory")

    def section(prefix: str) -> dict:
        return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}

    device = next(model.parameters()).device
    model.load_state_dict(section("model."))
    if ema is not None:
        ema.module.load_state_dict(section("ema."))
    slots: dict[int, dict] = {}
    for key, value in section("opt.").items():
        index, name = key.split(".", 1)
        slots.setdefault(int(index), {})[name] = value.to(device) if name != "step" else value
    for key, value in meta["opt_scalars"].items():
        index, name = key.split(".", 1)
        slots.setdefault(int(index), {})[name] = value
    optimizer.load_state_dict({"state": slots, "param_groups": meta["param_groups"]})
    scheduler.load_state_dict({**meta["scheduler"], "lr_lambdas": [None] * len(optimizer.param_groups)})
    best = section("best.") or None
    return meta["state"], best


def _describe(layout: dict | None) -> str:
    if layout is None:
        return "one process"
    return f"{layout['world_size']} process(es) × {layout['accumulation']} accumulation step(s)"
