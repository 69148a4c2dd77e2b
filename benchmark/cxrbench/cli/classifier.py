"""`cxrbench train-classifier` and `cxrbench predict`: the reference classifier recipe."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Optional

import typer

ORDER = 40


def _source(name: str, root: Optional[str], site: Optional[str], n_patients: Optional[int]):
    from cxrbench.data.sources import get_source

    options = {k: v for k, v in (("site", site), ("n_patients", n_patients)) if v is not None}
    if name != "phantom" and options:
        from cxrbench.errors import ConfigError

        raise ConfigError("--site and --n-patients apply to the phantom source only")
    return get_source(name, root=root, **options)


def _split(source, split: str, size: int, labels: tuple[str, ...], cache: Optional[Path], max_images: Optional[int]):
    """One split of a source as LabeledImages, pixels from the ImageStore (decoded once)."""
    from cxrbench.baselines.classifier import from_rows
    from cxrbench.data.image_store import ImageStore
    from cxrbench.data.splits import split_rows
    from cxrbench.errors import ConfigError

    parts = split_rows(source.rows(frontal_only=True))
    if split not in parts:
        raise ConfigError(f"unknown split {split!r}; known: {', '.join(parts)}")
    rows = parts[split]
    if max_images is not None:
        rows = rows.iloc[:max_images]
    rows = rows.reset_index(drop=True)
    pixels = ImageStore(cache).get(source, rows, size)
    return from_rows(rows, pixels.pixels, labels), rows


def _overrides(items: list[str]) -> dict:
    from cxrbench.errors import ConfigError

    out = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected FIELD=VALUE")
        key, value = item.split("=", 1)
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def _synthetic(path: Path, real, ratio: Optional[float]):
    """A synthetic set on disk as LabeledImages conditioned on `real`'s rows (the replica scheme)."""
    from cxrbench.baselines.classifier import LabeledImages, supplement
    from cxrbench.baselines.ddpm.synthetic_set import read_synthetic_set
    from cxrbench.errors import DataError

    images, table = read_synthetic_set(path)
    missing = [n for n in real.label_names if n not in table.columns]
    if missing:
        raise DataError(f"{path}: synthetic set lacks label column(s) {missing}")
    if "condition_id" in table.columns:
        condition_ids = table["condition_id"].astype(str).to_numpy()
    else:  # rows are the training rows in order, replica after replica
        import numpy as np

        condition_ids = real.image_ids[np.arange(len(table)) % max(len(real), 1)]
    ratio = ratio if ratio is not None else 100 * len(table) / max(len(real), 1)
    syn = LabeledImages(images, table[list(real.label_names)].to_numpy("float32"),
                        [f"synthetic-{i}" for i in range(len(table))], real.label_names,
                        condition_ids=condition_ids)
    return supplement(real, syn, ratio)


def train_classifier_command(
    out: Path = typer.Option(..., help="Folder for model.safetensors, config.json, metrics.jsonl and the checkpoint."),
    recipe: str = typer.Option("quick", help="Recipe preset: quick (CPU, small CNN, 32 px) or standard (the study's, GPU)."),
    source: str = typer.Option("phantom", help="Data source (train and val splits; the test split never enters)."),
    root: Optional[str] = typer.Option(None, help="Dataset root for file-backed sources."),
    site: Optional[str] = typer.Option(None, help="Phantom site (default site-a)."),
    n_patients: Optional[int] = typer.Option(None, help="Phantom: number of patients."),
    synthetic: Optional[Path] = typer.Option(None, help="A synthetic set (cxrbench sample) conditioned on the training rows."),
    ratio: Optional[float] = typer.Option(None, help="Supplement N%: checked against the synthetic set's size."),
    synthetic_only: bool = typer.Option(False, help="Train on the synthetic set alone (validation stays real)."),
    label_set: str = typer.Option("all14", help="Label set: all14 or competition5."),
    uncertainty: str = typer.Option("zeros", help="Policy for -1 labels in training: ignore, zeros or ones."),
    seed: int = typer.Option(0, help="Training seed (weights, batches, augmentation)."),
    size: Optional[int] = typer.Option(None, help="Image size (default: the recipe's)."),
    max_images: Optional[int] = typer.Option(None, help="Use only the first N training images."),
    set_: list[str] = typer.Option([], "--set", help="Override a recipe field, e.g. --set max_epochs=3 (JSON values)."),
    device: str = typer.Option("cpu", help="cpu or cuda (bf16 autocast on cuda)."),
    threads: Optional[int] = typer.Option(None, help="torch CPU threads (results on a CPU depend on it)."),
    cache: Optional[Path] = typer.Option(None, help="ImageStore root (default $CXRBENCH_CACHE/images)."),
    resume: bool = typer.Option(True, help="Resume from OUT/checkpoint when it matches recipe and seed."),
    progress: bool = typer.Option(True, help="Show a progress bar."),
    accumulation: int = typer.Option(1, help="Gradient accumulation steps; under `accelerate launch` each process "
                                     "gets batch_size / (processes × accumulation) images per micro-batch."),
) -> None:
    """Train the reference classifier recipe on a source's training split (plus synthetic images).

    Multi-GPU: `accelerate launch --num_processes N -m cxrbench.cli train-classifier ... --device cuda`
    (DDP; the recipe's batch_size stays the global batch; rank 0 writes OUT).
    """
    import shutil

    import torch

    from cxrbench.baselines.classifier import get_recipe, train_classifier
    from cxrbench.baselines.distributed import Distributed
    from cxrbench.errors import ConfigError
    from cxrbench.schema import label_set as named_label_set

    if threads:
        torch.set_num_threads(threads)
    overrides = _overrides(set_)
    if size is not None:
        overrides["image_size"] = size
    chosen = get_recipe(recipe, **overrides)
    dist = Distributed.from_launch(accumulation)
    echo = typer.echo if dist.is_main else (lambda message: None)
    labels = named_label_set(label_set)
    src = _source(source, root, site, n_patients)
    started = time.time()
    with dist.main_first():  # rank 0 fills the ImageStore, the others then read it
        train, _ = _split(src, "train", chosen.image_size, labels, cache, max_images)
        val, _ = _split(src, "val", chosen.image_size, labels, cache, None)
        test, _ = _split(src, "test", chosen.image_size, labels, cache, None)
    parts = [train]
    if synthetic is not None:
        parts = _synthetic(synthetic, train, ratio)
        if synthetic_only:
            parts = parts[1:]
    elif synthetic_only or ratio is not None:
        raise ConfigError("--ratio and --synthetic-only need --synthetic")
    echo(f"{source}: train {' + '.join(str(len(p)) for p in parts)} · val {len(val)} images at "
               f"{chosen.image_size}px ({time.time() - started:.1f}s to load); recipe {chosen.name}@{chosen.version} "
               f"[{chosen.fingerprint()}] seed {seed}")
    checkpoint = out / "checkpoint"
    if not resume and checkpoint.exists() and dist.is_main:
        shutil.rmtree(checkpoint)
    dist.barrier()
    model = train_classifier(parts, val, chosen, seed=seed, device=device, forbidden_ids=test.image_ids,
                             progress=progress, uncertainty_policy=uncertainty, label_names=labels,
                             checkpoint_dir=checkpoint, distributed=dist)
    if not dist.is_main:
        return
    model.info["data"] = {"source": source, "site": site, "n_patients": n_patients, "synthetic": str(synthetic) if synthetic else None}
    model.save(out)
    shutil.copyfile(checkpoint / "metrics.jsonl", out / "metrics.jsonl")
    info = model.info
    best = info["best_val_macro_auroc"]
    typer.echo(f"best epoch {info['best_epoch']} of {info['epochs_run']} · val macro AUROC "
               f"{'n/a' if best is None else f'{best:.4f}'} · saved {out}")


def predict_command(
    model_dir: Path = typer.Argument(..., help="A folder written by train-classifier (or TrainedClassifier.save)."),
    out: Path = typer.Option(..., help="Predictions parquet: image_id + one probability column per label."),
    source: str = typer.Option("phantom", help="Data source of the eval set."),
    root: Optional[str] = typer.Option(None, help="Dataset root for file-backed sources."),
    site: Optional[str] = typer.Option(None, help="Phantom site (site-a internal; site-b, site-c external)."),
    n_patients: Optional[int] = typer.Option(None, help="Phantom: number of patients."),
    split: str = typer.Option("test", help="Which split to predict: train, val or test."),
    device: str = typer.Option("cpu"),
    threads: Optional[int] = typer.Option(None, help="torch CPU threads."),
    cache: Optional[Path] = typer.Option(None, help="ImageStore root (default $CXRBENCH_CACHE/images)."),
) -> None:
    """Write per-image probabilities of a trained classifier for one split of a source."""
    import torch

    from cxrbench.baselines.classifier import TrainedClassifier, write_predictions

    if threads:
        torch.set_num_threads(threads)
    model = TrainedClassifier.load(model_dir, device=device)
    src = _source(source, root, site, n_patients)
    data, _ = _split(src, split, model.recipe.image_size, model.label_names, cache, None)
    started = time.time()
    probs = model.predict(data.images)
    write_predictions(out, data.image_ids, probs, model.label_names)
    typer.echo(f"wrote {out} ({len(data)} images × {len(model.label_names)} labels, {time.time() - started:.1f}s)")


def register(app: typer.Typer) -> None:
    app.command("train-classifier")(train_classifier_command)
    app.command("predict")(predict_command)
