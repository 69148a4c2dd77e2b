"""Training the reference DDPM: v-prediction MSE on the cosine / zero-terminal-SNR schedule,
10% condition dropout for classifier-free guidance, EMA, bf16 autocast on GPU, checkpoint and
exact resume, a loss curve on disk.

Every random draw (batch indices, timesteps, condition dropout, and on a CPU the noise) comes
from one CPU generator seeded by `seed`; on a GPU the noise comes from a generator on the device
seeded by `seed`. Both states are checkpointed, so `steps` straight and `k` + resume give the
same weights on the same machine.

The step is device work only: the training set and its conditions are copied to the device once,
the per-step indices travel from pinned memory without blocking, the loss is summed on the
device and read (one host sync) every `log_every` steps, the EMA is one `torch._foreach_lerp_`.
On a GPU, `compile=True` compiles the network and `channels_last` (default on CUDA) changes the
memory format; neither changes the trajectory on a CPU.

Under `accelerate launch` (a `Distributed` with several processes) the step runs as DDP: every
process draws the whole global batch (`settings.batch_size` indices, timesteps, dropout flags and
noise, from the streams above) and trains on its slice of it (cxrbench.baselines.distributed), so a
step uses exactly the one-process run's samples; rank 0 alone writes checkpoints, loss log, weights.
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

from cxrbench.baselines.ddpm.acceleration import check_compile, to_device
from cxrbench.baselines.ddpm.model import ConditionalUNet, build_model, load_state_checked, save_pretrained
from cxrbench.baselines.ddpm.presets import GeneratorConfig
from cxrbench.baselines.ddpm.schedules import training_scheduler
from cxrbench.baselines.distributed import Distributed
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
    """ema ← ema + (1 − decay)(model − ema) for every parameter, in one foreach call."""
    with torch.no_grad():
        targets = list(ema.parameters())
        sources = [p.detach().to(e.dtype) for e, p in zip(targets, model.parameters())]
        torch._foreach_lerp_(targets, sources, 1.0 - decay)


def _ema_decay(settings: TrainSettings, step: int) -> float:
    # warm-up so early EMA weights are not dominated by the random init
    return min(settings.ema_decay, (1.0 + step) / (10.0 + step))


def _lr(settings: TrainSettings, step: int) -> float:
    return settings.lr * min(1.0, (step + 1) / max(1, settings.warmup_steps))


class _State:
    def __init__(self, config: GeneratorConfig, settings: TrainSettings, device: torch.device,
                 dist: Distributed) -> None:
        torch.manual_seed(settings.seed)  # weight init
        self.model = build_model(config).to(device).train()
        if dist.active:  # each process its own dropout draws (one process: the stream as before)
            torch.manual_seed(int(np.random.default_rng([settings.seed, *dist.stream()]).integers(2**62)))
        self.ema = copy.deepcopy(self.model).eval().requires_grad_(False)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=settings.lr,
                                           weight_decay=settings.weight_decay)
        self.rng = torch.Generator("cpu").manual_seed(settings.seed)
        # noise is drawn where it is used; on a CPU from the same stream as before (same weights)
        self.noise_rng = (self.rng if device.type == "cpu"
                          else torch.Generator(device).manual_seed(settings.seed))
        self.step = 0
        self.seconds = 0.0  # training wall time, summed over resumed runs

    def save(self, directory: Path, meta: dict) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in self.model.state_dict().items()}
        tensors |= {f"ema.{k}": v.detach().cpu().contiguous() for k, v in self.ema.state_dict().items()}
        tmp = directory / "state.safetensors.tmp"
        save_file(tensors, str(tmp))
        aux = {"optimizer": self.optimizer.state_dict(), "rng": self.rng.get_state()}
        if self.noise_rng is not self.rng:
            aux["noise_rng"] = self.noise_rng.get_state()
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
        for key in ("config", "settings", "data_fingerprint", "layout"):
            if _comparable(key, saved.get(key)) != _comparable(key, meta.get(key)):
                raise ConfigError(f"{directory}: checkpoint was made with a different {key} "
                                  f"({saved.get(key)!r} vs {meta.get(key)!r}); delete it or use another --out")
        tensors = load_file(str(directory / "state.safetensors"))
        load_state_checked(self.model, {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}, str(directory))
        load_state_checked(self.ema, {k[4:]: v for k, v in tensors.items() if k.startswith("ema.")}, str(directory))
        aux = torch.load(directory / "aux.pt", weights_only=True)  # never unpickles code
        self.optimizer.load_state_dict(aux["optimizer"])
        self.rng.set_state(aux["rng"])
        if self.noise_rng is not self.rng:
            if "noise_rng" not in aux:
                raise ConfigError(f"{directory}: checkpoint was made on a CPU; resume it on a CPU")
            self.noise_rng.set_state(aux["noise_rng"])
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
                    stop_after: int | None = None, log: Callable[[str], None] = print,
                    compile: bool = False, channels_last: bool | None = None,
                    distributed: Distributed | None = None) -> ConditionalUNet:
    """Train on uint8 images (N, S, S) with condition vectors (N, D); write EMA weights +
    config to `out_dir` and return the EMA model.

    A checkpoint in `out_dir/.checkpoint` (every `checkpoint_every` steps) is resumed when the
    config, settings and data fingerprint match. `stop_after` ends the run early after that
    many steps (leaving a checkpoint), for tests and time-boxed runs. `compile` (inductor) and
    `channels_last` (None = on CUDA) are speed options, not part of the recorded settings.
    `distributed` (`Distributed.from_launch()`): the processes of a DDP job (every process returns
    the same model; rank 0 alone writes); None = this process alone.
    """
    images = np.asarray(images)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise DataError(f"training images must be uint8 (N, S, S), got {images.dtype} {images.shape}")
    if images.shape[1:] != (config.image_size, config.image_size):
        raise DataError(f"training images are {images.shape[1]}x{images.shape[2]} but preset "
                        f"{config.preset!r} is {config.image_size}x{config.image_size}")
    if len(images) != len(conditions) or len(images) == 0:
        raise DataError(f"{len(images)} training images but {len(conditions)} condition rows")
    dist = distributed or Distributed()
    dist.per_process_batch(settings.batch_size, "--batch-size")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    device_t = dist.device(device)
    check_compile("default" if compile else None, device_t)
    state = _State(config, settings, device_t, dist)
    channels_last = device_t.type == "cuda" if channels_last is None else channels_last
    if channels_last:
        state.model.to(memory_format=torch.channels_last)
    meta = {"config": config.model_dump(mode="json"), "settings": settings.model_dump(mode="json"),
            "data_fingerprint": data_fingerprint}
    if dist.active:  # absent for one process, so its checkpoints are as before
        meta["layout"] = dist.layout()
    checkpoint = out_dir / CHECKPOINT_DIR
    loss_path = out_dir / LOSS_FILE
    resumed = resume and state.load(checkpoint, meta)
    if resumed:
        log(f"resumed from {checkpoint} at step {state.step}")
    if dist.is_main:
        if resumed:
            _truncate_loss_log(loss_path, state.step)
        else:
            loss_path.write_text("step,loss,lr,seconds\n")
    trained = dist.prepare(state.model)  # DDP-wrapped under accelerate; state.model stays bare
    forward = torch.compile(trained, dynamic=False) if compile else trained
    scheduler = training_scheduler(config)
    data = to_device(torch.from_numpy(images), device_t)  # uint8, copied to the device once
    conds = to_device(conditions.float(), device_t)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device_t.type == "cuda" else contextlib.nullcontext()
    last = settings.steps if stop_after is None else min(settings.steps, state.step + stop_after)
    bar = None
    if progress and dist.is_main:
        from tqdm.auto import tqdm

        bar = tqdm(total=settings.steps, initial=state.step, desc=f"train {config.preset}", unit="step")
    loss_sum, logged, started = torch.zeros((), dtype=torch.float64, device=device_t), 0, time.time()
    resumed_seconds = state.seconds
    size = config.image_size
    while state.step < last:
        g = state.rng
        idx = torch.randint(0, len(data), (settings.batch_size,), generator=g)
        noise = torch.randn((settings.batch_size, 1, size, size), generator=state.noise_rng,
                            device=state.noise_rng.device)
        t = torch.randint(0, config.num_train_timesteps, (settings.batch_size,), generator=g)
        drop = torch.rand(settings.batch_size, generator=g) < config.condition_dropout
        idx, t, drop = (to_device(v, device_t) for v in (idx, t, drop))
        x0 = data[idx].float().div(127.5).sub(1.0)[:, None]
        if channels_last:
            x0, noise = (v.contiguous(memory_format=torch.channels_last) for v in (x0, noise))
        noisy = scheduler.add_noise(x0, noise, t)
        target = scheduler.get_velocity(x0, noise, t) if config.prediction_type == "v_prediction" else noise
        for group in state.optimizer.param_groups:
            group["lr"] = _lr(settings, state.step)
        state.optimizer.zero_grad(set_to_none=True)
        step_loss = 0.0
        for part in dist.micro_steps(trained, settings.batch_size):
            with autocast:
                pred = forward(noisy[part], t[part], state.model.condition_encoder(conds[idx[part]], drop[part]))
            loss = torch.nn.functional.mse_loss(pred.float(), target[part])
            dist.backward(loss)
            step_loss = step_loss + loss.detach() / dist.accumulation
        dist.step_done(state.model)
        torch.nn.utils.clip_grad_norm_(state.model.parameters(), settings.grad_clip)
        state.optimizer.step()
        ema_update(state.ema, state.model, _ema_decay(settings, state.step))
        state.step += 1
        state.seconds = resumed_seconds + time.time() - started
        loss_sum += step_loss
        logged += 1
        if bar is not None:
            bar.update(1)
        if state.step % settings.log_every == 0 or state.step == last:
            # the one host sync, every log_every steps; the mean over every process's slices
            mean = dist.sum(loss_sum).item() / (logged * dist.world_size)
            if dist.is_main:
                with loss_path.open("a") as fh:
                    fh.write(f"{state.step},{mean:.6f},{_lr(settings, state.step - 1):.3g},{state.seconds:.1f}\n")
            if bar is not None:
                bar.set_postfix(loss=f"{mean:.4f}")
            loss_sum, logged = torch.zeros((), dtype=torch.float64, device=device_t), 0
        if state.step % settings.checkpoint_every == 0 or state.step == last:
            if dist.is_main:
                state.save(checkpoint, meta)
            dist.barrier()  # the others wait until rank 0 has written
    if bar is not None:
        bar.close()
    if state.step >= settings.steps and dist.is_main:
        save_pretrained(state.ema, out_dir)
    dist.barrier()
    return state.ema.eval()


def _truncate_loss_log(path: Path, step: int) -> None:
    """Drop loss rows logged after the checkpoint being resumed (they will be logged again)."""
    if not path.exists():
        path.write_text("step,loss,lr,seconds\n")
        return
    lines = path.read_text().splitlines()
    kept = [lines[0]] + [ln for ln in lines[1:] if ln and int(ln.split(",")[0]) <= step]
    path.write_text("\n".join(kept) + "\n")

