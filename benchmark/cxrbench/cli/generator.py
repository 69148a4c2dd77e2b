"""`cxrbench train-generator` and `cxrbench sample`: the reference conditional DDPM."""

from __future__ import annotations

import shlex
import time
from pathlib import Path
from typing import Optional

import typer

ORDER = 30


def train_generator_command(
    ctx: typer.Context,
    preset: str = typer.Option(..., help="Architecture preset: tiny-32, small-64 or paper-256."),
    source: str = typer.Option("phantom", help="Data source; the model learns only from its training split."),
    out: Path = typer.Option(..., help="Folder for the weights (a diffusers pipeline folder), MODEL_CARD.md, loss.csv."),
    root: Optional[str] = typer.Option(None, help="Dataset root for file-backed sources."),
    site: Optional[str] = typer.Option(None, help="Phantom site (default: the source's internal site)."),
    n_patients: Optional[int] = typer.Option(None, help="Phantom: number of patients."),
    source_seed: Optional[int] = typer.Option(None, help="Phantom: seed of the patient population."),
    max_images: Optional[int] = typer.Option(None, help="Use only the first N training images."),
    steps: int = typer.Option(2000, help="Optimizer steps."),
    batch_size: int = typer.Option(64),
    lr: float = typer.Option(5e-4),
    warmup_steps: int = typer.Option(100),
    ema_decay: float = typer.Option(0.999),
    seed: int = typer.Option(0, help="Seed of weight init, batches, noise and condition dropout."),
    checkpoint_every: int = typer.Option(250),
    device: str = typer.Option("cpu", help="cpu or cuda (bf16 autocast on cuda)."),
    threads: Optional[int] = typer.Option(None, help="torch CPU threads (the result depends on it)."),
    resume: bool = typer.Option(True, help="Resume from OUT/.checkpoint when it matches."),
    stop_after: Optional[int] = typer.Option(None, help="Stop after this many steps (resumable)."),
    accumulation: int = typer.Option(1, help="Gradient accumulation steps; under `accelerate launch` each process "
                                     "gets batch-size / (processes × accumulation) images per micro-batch."),
) -> None:
    """Train the reference conditional DDPM on a source's real training split.

    Multi-GPU: `accelerate launch --num_processes N -m cxrbench.cli train-generator ... --device cuda`
    (DDP; --batch-size stays the global batch; rank 0 writes OUT).
    """
    import torch

    from cxrbench.baselines.ddpm.conditioning import encode_conditions
    from cxrbench.baselines.ddpm.model import count_parameters, is_weights_folder
    from cxrbench.baselines.ddpm.model_card import write_model_card
    from cxrbench.baselines.ddpm.presets import get_preset
    from cxrbench.baselines.ddpm.training import LOSS_FILE, TrainSettings, train_generator
    from cxrbench.baselines.ddpm.training_data import load_training_split
    from cxrbench.baselines.distributed import Distributed

    config = get_preset(preset)
    if threads:
        torch.set_num_threads(threads)
    dist = Distributed.from_launch(accumulation)
    echo = typer.echo if dist.is_main else (lambda message: None)
    options = {k: v for k, v in (("site", site), ("n_patients", n_patients), ("seed", source_seed)) if v is not None}
    started = time.time()
    data = load_training_split(source, config.image_size, root=root, max_images=max_images, **options)
    echo(f"training data: {data.description}; fingerprint {data.fingerprint[:16]}… "
         f"pixels {data.pixels_sha256[:16]}… ({time.time() - started:.0f}s to load)")
    settings = TrainSettings(steps=steps, batch_size=batch_size, lr=lr, warmup_steps=warmup_steps,
                             ema_decay=ema_decay, seed=seed, checkpoint_every=checkpoint_every)
    started = time.time()
    model = train_generator(config, data.images, encode_conditions(data.conditions), settings, out,
                            device=device, data_fingerprint=f"{data.fingerprint}/{data.pixels_sha256}", resume=resume,
                            stop_after=stop_after, log=echo, distributed=dist)
    if not dist.is_main:
        return
    seconds = _checkpoint_meta(out).get("seconds", time.time() - started)
    if not is_weights_folder(out) or stop_after is not None and not _finished(out, steps):
        typer.echo(f"stopped early; run the same command again to resume from {out}/.checkpoint")
        return
    losses = (out / LOSS_FILE).read_text().strip().splitlines()[1:]
    final = float(losses[-1].split(",")[1]) if losses else None
    env = f"{device}, torch {torch.__version__}, {torch.get_num_threads()} thread(s)"
    if dist.active:
        env += f", DDP over {dist.world_size} process(es) × {dist.accumulation} accumulation step(s)"
    command = _command_line(ctx)
    card = write_model_card(out, config, n_parameters=count_parameters(model), data=data.description,
                            data_fingerprint=data.fingerprint, pixels_sha256=data.pixels_sha256, n_images=len(data.images),
                            n_patients=data.patients, command=command,
                            settings=settings.model_dump(), final_loss=final, train_seconds=seconds,
                            environment=env)
    typer.echo(f"wrote {out}: a diffusers pipeline folder (CxrDDPMPipeline), {card.name}, {LOSS_FILE}")


def _command_line(ctx: typer.Context) -> str:
    """The command as given (non-default options only), to record in the model card."""
    parts = ["cxrbench", ctx.info_name or "train-generator"]
    for param in ctx.command.params:
        value = ctx.params.get(param.name)
        if value is None or (value == param.default and not param.required):
            continue
        flag = param.opts[0]
        if isinstance(value, bool):
            parts.append(flag if value else (param.secondary_opts or [flag])[0])
        else:
            parts += [flag, shlex.quote(str(value))]
    return " ".join(parts)


def _checkpoint_meta(out: Path) -> dict:
    import json

    meta = out / ".checkpoint" / "meta.json"
    return json.loads(meta.read_text()) if meta.exists() else {}


def _finished(out: Path, steps: int) -> bool:
    return _checkpoint_meta(out).get("step", 0) >= steps


def sample_command(
    conditions: Path = typer.Option(..., help="Condition table (.csv or .parquet): 14 labels + age, sex, race, view."),
    out: Path = typer.Option(..., help="Folder for the synthetic set (parquet shards + manifest.json)."),
    weights: str = typer.Option("tiny-32", help="Weights folder or shipped preset name."),
    seeds_column: str = typer.Option("seed", help="Column holding each row's int64 seed; if absent, seeds are seed_base + row number."),
    seed_base: int = typer.Option(0),
    size: Optional[int] = typer.Option(None, help="Output size (default: the model's)."),
    sampler: str = typer.Option("dpmpp-2m", help="ddpm, ddim, dpmpp-2m or unipc."),
    steps: Optional[int] = typer.Option(None, help="Sampling steps (default per sampler)."),
    guidance: float = typer.Option(0.0, help="Classifier-free guidance scale (0 = conditional)."),
    device: str = typer.Option("cpu"),
    batch_size: int = typer.Option(64, help="Fixed batch bucket."),
    dtype: Optional[str] = typer.Option(None, help="float32 or bfloat16 (default: bf16 on cuda, fp32 on cpu)."),
    threads: Optional[int] = typer.Option(None),
) -> None:
    """Generate a synthetic set from a condition table (resumable; marked complete only when whole)."""
    import numpy as np
    import pandas as pd
    import torch

    from cxrbench.baselines.ddpm.generator import ReferenceGenerator
    from cxrbench.baselines.ddpm.synthetic_set import write_synthetic_set
    from cxrbench.errors import DataError

    if threads:
        torch.set_num_threads(threads)
    if not conditions.exists():
        raise DataError(f"{conditions}: condition table not found")
    table = pd.read_parquet(conditions) if conditions.suffix == ".parquet" else pd.read_csv(conditions)
    seeds = (table[seeds_column].to_numpy(np.int64) if seeds_column in table
             else seed_base + np.arange(len(table), dtype=np.int64))
    gen = ReferenceGenerator.from_pretrained(weights, device=device, sampler=sampler, steps=steps,
                                             guidance=guidance, batch_size=batch_size, dtype=dtype)
    size = size or gen.image_size
    started = time.time()
    manifest = write_synthetic_set(out, table, seeds, size, gen.generate, gen.identity,
                                   progress=lambda done, total: typer.echo(f"{done}/{total} images"))
    dt = time.time() - started
    typer.echo(f"wrote {manifest} ({len(seeds)} images, {gen.identity}, {dt:.1f}s)")


def register(app: typer.Typer) -> None:
    app.command("train-generator")(train_generator_command)
    app.command("sample")(sample_command)
