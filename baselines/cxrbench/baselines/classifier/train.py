"""`train_classifier`: the reference recipe's training loop.

Seeded end to end (weights, batch order, augmentation, dropout). The recipe's `selection` decides
which weights come back: `final` (a fixed-length schedule, the last epoch's EMA weights; the
validation set only monitors and catches divergence) or `best_val` (early stopping on the
real-only validation set's macro AUROC). Optional per-epoch safetensors checkpoints that a later
call resumes from exactly (same weights as an uninterrupted run on a CPU).

Under `accelerate launch` (a `Distributed` with several processes) the same loop runs as DDP:
every process draws and augments the whole global batch (`recipe.batch_size`) from the shared
seeded streams and trains on its slice (cxrbench.baselines.distributed); rank 0 alone writes.
"""

from __future__ import annotations

import copy
import json
import math
import time
from pathlib import Path

import numpy as np
import torch

from cxrbench.baselines.classifier.augment import augment, mixup
from cxrbench.baselines.classifier.backbones import create_backbone
from cxrbench.baselines.classifier.checkpoint import load_checkpoint, save_checkpoint
from cxrbench.baselines.classifier.data import (
    LabeledImages,
    check_forbidden,
    check_label_names,
    check_trainable,
    training_targets,
)
from cxrbench.baselines.classifier.loader import BatchLoader
from cxrbench.baselines.classifier.metrics import macro_auroc, masked_bce
from cxrbench.baselines.classifier.model import TrainedClassifier, _autocast
from cxrbench.baselines.classifier.recipe import Recipe
from cxrbench.baselines.distributed import Distributed
from cxrbench.errors import ConfigError, DataError

METRICS_FILE = "metrics.jsonl"


def train_classifier(
    train: LabeledImages | list[LabeledImages],
    val: LabeledImages,
    recipe: Recipe,
    seed: int,
    device: str = "cpu",
    forbidden_ids=None,
    progress: bool = True,
    *,
    uncertainty_policy: str | None = None,
    label_names: tuple[str, ...] | None = None,
    checkpoint_dir: str | Path | None = None,
    distributed: Distributed | None = None,
    build_model=None,
) -> TrainedClassifier:
    """Train the recipe on `train` (real and/or synthetic parts), early-stopping on `val` (real).

    `uncertainty_policy` is the task's (default: the recipe's); `label_names` the task's label
    set (default: the validation set's); `forbidden_ids` the test image ids, none of which may be
    a training or validation image or a synthetic image's condition row. With `checkpoint_dir`,
    each epoch is checkpointed there (plus `metrics.jsonl`), and an existing checkpoint is resumed.
    Returns the classifier after the last epoch (`selection='final'`) or at its best validation
    epoch (`'best_val'`), with EMA weights when the recipe has EMA. A run whose training loss
    becomes NaN or infinite stops with a DataError naming the epoch (divergence).
    `distributed` (`Distributed.from_launch()`): the processes of a DDP job; every process returns
    the same classifier, rank 0 alone writes the checkpoints. None = this process alone.
    `build_model(num_classes, drop_rate=...)`: a model in place of the recipe's backbone (a timm
    block's architecture trained with the recipe), built under the run's seed like the backbone.
    """
    parts = [train] if isinstance(train, LabeledImages) else list(train)
    label_names = tuple(label_names or val.label_names)
    check_label_names(parts, label_names, "training set")
    check_label_names([val], label_names, "validation set")
    if val.condition_ids is not None:
        raise DataError("the validation set must be real images only (it has condition_ids)")
    check_forbidden(parts, forbidden_ids, "training set")
    check_forbidden([val], forbidden_ids, "validation set")
    overlap = np.intersect1d(np.concatenate([p.image_ids for p in parts]), val.image_ids)
    if overlap.size:
        raise DataError(f"{overlap.size} image id(s) are in both training and validation sets (e.g. {overlap[:3].tolist()})")
    policy = uncertainty_policy or recipe.uncertainty_policy
    targets = [training_targets(p.labels, policy, recipe.unmentioned) for p in parts]
    single_class = check_trainable(np.concatenate(targets) if targets else np.zeros((0, len(label_names))), label_names)
    val_targets = training_targets(val.labels, policy, recipe.unmentioned)  # for the val loss
    if len(val) == 0 or math.isnan(macro_auroc(val.labels, np.zeros_like(val.labels))[0]):
        raise DataError("the validation set has no label with both classes: it cannot monitor training")

    dist = distributed or Distributed()
    device = dist.device(device)
    loader = BatchLoader(parts, targets, recipe.batch_size, recipe.image_size, device,
                         epoch_images=recipe.epoch_images)
    if dist.active:
        dist.per_process_batch(recipe.batch_size, f"recipe {recipe.name} batch_size")
        if not loader.drop_last:
            raise ConfigError(f"recipe {recipe.name}: an epoch of {loader.epoch_images} images is smaller than one "
                              f"global batch ({recipe.batch_size}); train it in one process")
    steps_per_epoch = len(loader)
    total_steps = steps_per_epoch * recipe.max_epochs

    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        if build_model is None:
            model = create_backbone(recipe.backbone, len(label_names), pretrained=recipe.pretrained,
                                    drop_rate=recipe.drop_rate)
        else:
            model = build_model(len(label_names), drop_rate=recipe.drop_rate)
        model = model.to(device)
        optimizer = _optimizer(model, recipe)
        warmup = recipe.warmup_epochs * steps_per_epoch
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: _lr_factor(step, warmup, total_steps, recipe.schedule))
        ema = _ema(model, recipe)
        state = {"epoch": 0, "best_auroc": -math.inf, "best_epoch": -1, "bad_epochs": 0, "history": []}
        best_weights = None
        ckpt = Path(checkpoint_dir) if checkpoint_dir is not None else None
        if ckpt is not None and (ckpt / "checkpoint.safetensors").exists():
            state, best_weights = load_checkpoint(ckpt, model, ema, optimizer, scheduler, recipe, seed, label_names,
                                                  layout=dist.layout())
        trained = dist.prepare(model)  # DDP-wrapped under accelerate; `model` stays the bare module

        bar = _progress(progress and dist.is_main)
        task = bar.add_task(f"train {recipe.name} seed {seed}", total=total_steps,
                            completed=state["epoch"] * steps_per_epoch) if bar else None
        try:
            patience = recipe.patience if recipe.selection == "best_val" and recipe.patience else math.inf
            while state["epoch"] < recipe.max_epochs and state["bad_epochs"] < patience:
                epoch = state["epoch"]
                torch.manual_seed(_derive(seed, epoch, 1, *dist.stream()))  # dropout / drop-path draws
                aug_rng = torch.Generator(device=device).manual_seed(_derive(seed, epoch, 2))
                model.train()
                started, loss_sum, seen = time.perf_counter(), 0.0, 0
                for x, y in loader.epoch(seed, epoch):
                    x = augment(x, recipe, aug_rng)
                    if recipe.mixup_alpha > 0:
                        x, y = mixup(x, y, recipe.mixup_alpha, aug_rng)
                    if recipe.label_smoothing > 0:
                        y = y * (1 - recipe.label_smoothing) + 0.5 * recipe.label_smoothing
                    optimizer.zero_grad(set_to_none=True)
                    # several processes: each slice's loss sum over the global batch's count (the global mean)
                    normaliser = dist.loss_normaliser(int((~torch.isnan(y)).sum())) if dist.active else None
                    for part in dist.micro_steps(trained, x.shape[0]):
                        with _autocast(device, recipe):
                            loss = masked_bce(trained(x[part]), y[part], normaliser)
                        dist.backward(loss)
                        if normaliser is None:
                            loss_sum = loss_sum + loss.detach() * x[part].shape[0]  # no per-step host sync
                        else:  # this slice's share of the global batch's mean loss, weighted by the batch
                            loss_sum = loss_sum + loss.detach() * x.shape[0] / (dist.world_size * dist.accumulation)
                        seen += x[part].shape[0]
                    dist.step_done(model)
                    optimizer.step()
                    scheduler.step()
                    if ema is not None:
                        ema.update(model, step=scheduler.last_epoch)
                    if bar:
                        bar.advance(task)
                train_seconds = time.perf_counter() - started
                if dist.active:  # every process gets the global figures, so all stop together
                    loss_sum, seen = dist.sum(loss_sum), int(dist.sum(torch.tensor(seen, device=device)))
                train_loss = float(loss_sum) / max(seen, 1)  # one host sync per epoch
                if not math.isfinite(train_loss):
                    raise DataError(f"training diverged: {recipe.name} seed {seed} epoch {epoch} has training "
                                    f"loss {train_loss}")
                scored = ema.module if ema is not None else model
                val_loss, val_auroc, per_label = _validate(scored, val, val_targets, recipe, device)
                improved = val_auroc > state["best_auroc"]
                if improved:
                    state.update(best_auroc=val_auroc, best_epoch=epoch, bad_epochs=0)
                    best_weights = {k: v.detach().clone() for k, v in scored.state_dict().items()}
                else:
                    state["bad_epochs"] += 1
                record = {
                    "epoch": epoch, "train_loss": train_loss, "val_loss": _finite(val_loss),
                    "val_macro_auroc": _finite(val_auroc), "lr": scheduler.get_last_lr()[0],
                    "val_auroc_per_label": {n: _finite(v) for n, v in zip(label_names, per_label)},
                    "images": seen, "train_images_per_s": seen / train_seconds if train_seconds > 0 else None,
                    "seconds": time.perf_counter() - started, "best": improved,
                }
                state["history"].append(record)
                state["epoch"] = epoch + 1
                if bar:
                    bar.update(task, description=f"train {recipe.name} seed {seed} · epoch {epoch} · val AUROC {val_auroc:.3f}")
                if ckpt is not None and dist.is_main:
                    save_checkpoint(ckpt, model, ema, optimizer, scheduler, state, best_weights, recipe, seed, label_names,
                                    layout=dist.layout())
                    with open(ckpt / METRICS_FILE, "a") as log:
                        log.write(json.dumps({"seed": seed, **record}) + "\n")
                dist.barrier()  # the others wait until rank 0 has written
        finally:
            if bar:
                bar.stop()

        final = copy.deepcopy(ema.module if ema is not None else model)
        if recipe.selection == "best_val" and best_weights is not None:
            final.load_state_dict(best_weights)
    info = {
        "seed": seed,
        "uncertainty_policy": policy,
        "n_train": int(loader.total),
        "n_train_parts": [len(p) for p in parts],
        "n_val": len(val),
        "single_class_labels": single_class,
        "best_epoch": state["best_epoch"],
        "best_val_macro_auroc": _finite(state["best_auroc"]),
        "epochs_run": state["epoch"],
        "stopped_early": state["epoch"] < recipe.max_epochs,
        "selection": recipe.selection,
        **({"distributed": {**dist.layout(), "result_depends_on_process_count":
                            Distributed.result_depends_on_process_count(recipe.drop_rate)}} if dist.active else {}),
        "history": state["history"],
        "torch": torch.__version__,
    }
    return TrainedClassifier(final, recipe, label_names, info, device=device)


def _finite(value: float) -> float | None:
    """None for NaN / inf, so logs and config.json stay strict JSON."""
    return float(value) if math.isfinite(value) else None


def _derive(seed: int, epoch: int, stream: int, *extra: int) -> int:
    return int(np.random.default_rng([seed, epoch, stream, *extra]).integers(2**62))


def _lr_factor(step: int, warmup: float, total: int, schedule: str) -> float:
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    if schedule == "constant":
        return 1.0
    progress = (step - warmup) / max(total - warmup, 1)
    return 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


def _optimizer(model: torch.nn.Module, recipe: Recipe) -> torch.optim.Optimizer:
    # No weight decay on norms and biases (1-D parameters), as timm's param_groups_weight_decay.
    from timm.optim import param_groups_weight_decay

    groups = param_groups_weight_decay(model, recipe.weight_decay)
    if recipe.optimizer == "lion":
        try:
            from timm.optim import Lion
        except ImportError:
            raise ConfigError("optimizer 'lion' needs a timm release that ships timm.optim.Lion") from None
        return Lion(groups, lr=recipe.lr)
    return torch.optim.AdamW(groups, lr=recipe.lr)


def _ema(model: torch.nn.Module, recipe: Recipe):
    if recipe.ema_decay is None:
        return None
    from timm.utils import ModelEmaV3

    # Warm-up keeps the average from being dominated by the random init in short runs.
    return ModelEmaV3(model, decay=recipe.ema_decay, use_warmup=True)


@torch.no_grad()
def _validate(model, val: LabeledImages, val_targets: np.ndarray, recipe: Recipe, device):
    from cxrbench.baselines.classifier.loader import iterate_images

    model.eval()
    logits = []
    for x in iterate_images(val.images, recipe.eval_batch_size, recipe.image_size, device):
        with _autocast(device, recipe):
            logits.append(model(x).float().cpu())
    logits = torch.cat(logits)
    loss = float(masked_bce(logits, torch.from_numpy(val_targets)))
    # AUROC as the scorer computes it: raw labels, -1 and NaN dropped per label.
    auroc, per_label = macro_auroc(val.labels, torch.sigmoid(logits).numpy())
    return loss, auroc, per_label


def _progress(enabled: bool):
    if not enabled:
        return None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                   transient=False)
    bar.start()
    return bar
