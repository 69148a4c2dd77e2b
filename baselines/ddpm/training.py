"""Training the reference DDPM: v-prediction MSE on the cosine / zero-terminal-SNR schedule,
10% condition dropout for classifier-free guidance, EMA, bf16 autocast on GPU, checkpoint and
exact resume, a loss curve on disk.

Every random draw (batch indices, timesteps, noise, condition dropout) comes from one CPU
generator seeded by `seed` whose state is checkpointed, so `steps` straight and `k` + resume
give the same weights on the same machine.
"""

from __future__ import annotations

import contextlib
import copy
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field
from safetensors.torch import load_file, save_file

from cxrbench.baselines.ddpm.model import ConditionalUNet, build_model, load_state_checked, save_pretrained
from cxrbench.baselines.ddpm.presets import GeneratorConfig
from cxrbench.baselines.ddpm.schedules import training_scheduler
from cxrbench.errors import ConfigError, DataError

CHECKPOINT_DIR = ".checkpoint"
LOSS_FILE = "loss.csv"


class TrainSettings(BaseModel):
    """Optimisation settings (recorded in the model card)."""

    model_config = ConfigDict(extra="forbid")

    steps: int = Field(default=2000, ge=1)
    batch_size: int = Field(default=64, ge=1)
    lr: float = Field(default=5e-4, gt=0)
    warmup_steps: int = Field(default=100, ge=0)
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    ema_decay: float = Field(default=0.999, ge=0, lt=1)
    seed: int = 0
    checkpoint_every: int = Field(default=250, ge=1)
    log_every: int = Field(default=25, ge=1)


def ema_update(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    with torch.no_grad():
        for e, p in zip(ema.parameters(), model.parameters()):
            e.lerp_(p.detach().to(e.dtype), 1.0 - decay)


def _ema_decay(settings: TrainSettings, step: int) -> float:
    # warm-up so early EMA weights are not dominated by the random init
    return min(settings.ema_decay, (1.0 + step) / (10.0 + step))


def _lr(settings: TrainSettings, step: int) -> float:
    return settings.lr * min(1.0, (step + 1) / max(1, settings.warmup_steps))


class _State:
    def __init__(self, config: GeneratorConfig, settings: TrainSettings, device: torch.device) -> None:
        torch.manual_seed(settings.seed)  # weight init
        self.model = build_model(config).to(device).train()
        self.ema = copy.deepcopy(self.model).eval().requires_grad_(False)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=settings.lr,
                                           weight_decay=settings.weight_decay)
        self.rng = torch.Generator("cpu").manual_seed(settings.seed)
        self.step = 0
        self.seconds = 0.0  # training wall time, summed over resumed runs

    def save(self, directory: Path, meta: dict) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in self.model.state_dict().items()}
        tensors |= {f"ema.{k}": v.detach().cpu().contiguous() for k, v in self.ema.state_dict().items()}
        tmp = directory / "state.safetensors.tmp"
        save_file(tensors, str(tmp))
        aux = {"optimizer": self.optimizer.state_dict(), "rng": self.rng.get_state()}
        torch.save(aux, directory / "aux.pt.tmp")
        (directory / "meta.json.tmp").write_text(json.dumps({**meta, "step": self.step, "seconds": round(self.seconds, 1)}, indent=2))
        # meta.json is renamed last: a checkpoint without it is ignored
        tmp.replace(directory / "state.safetensors")
        (directory / "aux.pt.tmp").replace(directory / "aux.pt")
        (directory / "meta.json.tmp").replace(directory / "meta.json")

    def load(self, directory: Path, meta: dict) -> bool:
        meta_path = directory / "meta.json"
        if not meta_path.exists():
            return False
        saved = json.loads(meta_path.read_text())
        for key in ("config", "settings", "data_fingerprint"):
            if _comparable(key, saved.get(key)) != _comparable(key, meta.get(key)):
                raise ConfigError(f"{directory}: checkpoint was made with a different {key} "
                                  f"({saved.get(key)!r} vs {meta.get(key)!r}); delete it or use another --out")
        tensors = load_file(str(directory / "state.safetensors"))
        load_state_checked(self.model, {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}, str(directory))
        load_state_checked(self.ema, {k[4:]: v for k, v in tensors.items() if k.startswith("ema.")}, str(directory))
        aux = torch.load(directory / "aux.pt", weights_only=True)  # never unpickles code
        self.optimizer.load_state_dict(aux["optimizer"])
        self.rng.set_state(aux["rng"])
        self.step = int(saved["step"])
        self.seconds = float(saved.get("seconds", 0.0))
        if self.step > meta["settings"]["steps"]:
            raise ConfigError(f"{directory}: checkpoint is at step {self.step}, past the requested "
                              f"{meta['settings']['steps']} steps")
        return True


#: Settings that do not change the training trajectory: a run may be extended (more steps) or
#: logged differently and still resume. The learning rate is constant after warm-up and the EMA
#: decay does not depend on the total, so the first k steps are the same whatever `steps` is.
_TRAJECTORY_FREE = ("steps", "checkpoint_every", "log_every")


def _comparable(key: str, value):
    if key == "settings" and isinstance(value, dict):
        return {k: v for k, v in value.items() if k not in _TRAJECTORY_FREE}
    return value


def train_generator(config: GeneratorConfig, images: np.ndarray, conditions: torch.Tensor,
                    settings: TrainSettings, out_dir: str | Path, *, device: str = "cpu",
                    data_fingerprint: str = "", resume: bool = True, progress: bool = True,
                    stop_after: int | None = None, log: Callable[[str], None] = print) -> ConditionalUNet:
    """Train on uint8 images (N, S, S) with condition vectors (N, D); write EMA weights +
    config to `out_dir` and return the EMA model.

    A checkpoint in `out_dir/.checkpoint` (every `checkpoint_every` steps) is resumed when the
    config, settings and data fingerprint match. `stop_after` ends the run early after that
    many steps (leaving a checkpoint), for tests and time-boxed runs.
    """
    images = np.asarray(images)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise DataError(f"training images must be uint8 (N, S, S), got {images.dtype} {images.shape}")
    if images.shape[1:] != (config.image_size, config.image_size):
        raise DataError(f"training images are {images.shape[1]}x{images.shape[2]} but preset "
                        f"{config.preset!r} is {config.image_size}x{config.image_size}")
    if len(images) != len(conditions) or len(images) == 0:
        raise DataError(f"{len(images)} training images but {len(conditions)} condition rows")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    device_t = torch.device(device)
    state = _State(config, settings, device_t)
    meta = {"config": config.model_dump(mode="json"), "settings": settings.model_dump(mode="json"),
            "data_fingerprint": data_fingerprint}
    checkpoint = out_dir / CHECKPOINT_DIR
    loss_path = out_dir / LOSS_FILE
    if resume and state.load(checkpoint, meta):
        log(f"resumed from {checkpoint} at step {state.step}")
        _truncate_loss_log(loss_path, state.step)
    else:
        loss_path.write_text("step,loss,lr,seconds\n")
    scheduler = training_scheduler(config)
    data = torch.from_numpy(images)  # uint8 on CPU; batches are moved as they are drawn
    conds = conditions.float()
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device_t.type == "cuda" else contextlib.nullcontext()
    last = settings.steps if stop_after is None else min(settings.steps, state.step + stop_after)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=settings.steps, initial=state.step, desc=f"train {config.preset}", unit="step")
    running, started = [], time.time()
    resumed_seconds = state.seconds
    while state.step < last:
        g = state.rng
        idx = torch.randint(0, len(data), (settings.batch_size,), generator=g)
        x0 = data[idx].float().div(127.5).sub(1.0)[:, None]
        noise = torch.randn(x0.shape, generator=g)
        t = torch.randint(0, config.num_train_timesteps, (settings.batch_size,), generator=g)
        drop = torch.rand(settings.batch_size, generator=g) < config.condition_dropout
        x0, noise, t, drop, c = (v.to(device_t) for v in (x0, noise, t, drop, conds[idx]))
        noisy = scheduler.add_noise(x0, noise, t)
        target = scheduler.get_velocity(x0, noise, t) if config.prediction_type == "v_prediction" else noise
        for group in state.optimizer.param_groups:
            group["lr"] = _lr(settings, state.step)
        with autocast:
            pred = state.model(noisy, t, state.model.condition_encoder(c, drop))
        loss = torch.nn.functional.mse_loss(pred.float(), target)
        state.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(state.model.parameters(), settings.grad_clip)
        state.optimizer.step()
        ema_update(state.ema, state.model, _ema_decay(settings, state.step))
        state.step += 1
        state.seconds = resumed_seconds + time.time() - started
        running.append(loss.item())
        if bar is not None:
            bar.update(1)
        if state.step % settings.log_every == 0 or state.step == last:
            mean = float(np.mean(running))
            with loss_path.open("a") as fh:
                fh.write(f"{state.step},{mean:.6f},{_lr(settings, state.step - 1):.3g},{state.seconds:.1f}\n")
            if bar is not None:
                bar.set_postfix(loss=f"{mean:.4f}")
            running = []
        if state.step % settings.checkpoint_every == 0 or state.step == last:
            state.save(checkpoint, meta)
    if bar is not None:
        bar.close()
    if state.step >= settings.steps:
        save_pretrained(state.ema, out_dir)
    return state.ema.eval()


def _truncate_loss_log(path: Path, step: int) -> None:
    """Drop loss rows logged after the checkpoint being resumed (they will be logged again)."""
    if not path.exists():
        path.write_text("step,loss,lr,seconds\n")
        return
    lines = path.read_text().splitlines()
    kept = [lines[0]] + [ln for ln in lines[1:] if ln and int(ln.split(",")[0]) <= step]
    path.write_text("\n".join(kept) + "\n")

