"""Data-parallel training over several processes with Hugging Face accelerate (DDP), shared by
the classifier recipe and the reference DDPM.

One optimizer step always consumes the recipe's global batch, whatever the number of processes:
per-process batch × world size × accumulation steps = global batch, and a split that does not
divide evenly is refused. Every process draws the whole global batch from the same seeded
streams (batch order, augmentation, noise), then runs forward and backward on its own disjoint
slice of it; DDP averages the gradients. So a step sees exactly the images, augmentations and
noise of the one-process run; what differs is per-slice normalisation (BatchNorm statistics,
per-slice loss means) and the order of float reductions.

A process not started by `accelerate launch` / `torchrun` (WORLD_SIZE unset or 1) and no
accumulation gets `Distributed()`: accelerate is not imported and training is the one-process code.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import torch

from cxrbench.errors import ConfigError

INSTALL_HINT = "pip install 'cxrbench[dist]'"


def launched_world_size() -> int:
    """Processes in this job as the launcher (accelerate launch, torchrun, srun + env) set them."""
    try:
        return int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        raise ConfigError(f"environment variable WORLD_SIZE={os.environ['WORLD_SIZE']!r} is not an integer") from None


class Distributed:
    """The processes one training job runs on. `Distributed()` is this process alone (no accelerate)."""

    def __init__(self, accelerator=None, accumulation: int = 1):
        self.accelerator = accelerator
        self.world_size = accelerator.num_processes if accelerator is not None else 1
        self.rank = accelerator.process_index if accelerator is not None else 0
        self.accumulation = accumulation if accelerator is not None else 1

    @classmethod
    def from_launch(cls, accumulation: int = 1) -> Distributed:
        """The job this process was launched into, with `accumulation` micro-batches per step.

        One process and no accumulation: `Distributed()`, accelerate untouched. Otherwise an
        `accelerate.Accelerator` (DDP over the launcher's processes; gloo on CPUs, NCCL on GPUs).
        Mixed precision stays off in accelerate: the training loops' own bf16 autocast on CUDA
        applies, the same with one process or many.
        """
        if accumulation < 1:
            raise ConfigError(f"--accumulation {accumulation}: must be at least 1")
        if launched_world_size() <= 1 and accumulation == 1:
            return cls()
        try:
            from accelerate import Accelerator
        except ImportError:
            raise ConfigError(f"multi-process training (WORLD_SIZE={launched_world_size()}, accumulation "
                              f"{accumulation}) needs Hugging Face accelerate: {INSTALL_HINT}") from None
        return cls(Accelerator(mixed_precision="no"), accumulation)

    @property
    def active(self) -> bool:
        return self.accelerator is not None

    @property
    def is_main(self) -> bool:
        """Only this process writes checkpoints, logs and outputs."""
        return self.rank == 0

    def layout(self) -> dict | None:
        """How a step is spread (recorded in checkpoints, which resume only under the same one)."""
        return {"world_size": self.world_size, "accumulation": self.accumulation} if self.active else None

    @staticmethod
    def result_depends_on_process_count(drop_rate: float) -> bool:
        """Whether a model trained on several processes differs from the one-process model by more
        than float reduction order: only dropout draws differ (each process draws for its slice)."""
        return drop_rate > 0

    def stream(self) -> tuple[int, ...]:
        """Extra entropy for per-process random draws (dropout); empty for one process."""
        return (self.world_size, self.rank) if self.active else ()

    def per_process_batch(self, global_batch: int, what: str) -> int:
        """global_batch / (world × accumulation), refusing a split that is not a whole number."""
        parts = self.world_size * self.accumulation
        if global_batch % parts:
            raise ConfigError(
                f"{what} {global_batch} cannot be split evenly over {self.world_size} process(es) × "
                f"{self.accumulation} accumulation step(s): per-process batch × processes × accumulation must "
                f"equal it; choose a process count and --accumulation whose product divides {global_batch}")
        return global_batch // parts

    def micro_batches(self, global_batch: int) -> list[slice]:
        """This process's slices of one global batch, one per accumulation step (disjoint across ranks)."""
        if not self.active:
            return [slice(None)]
        size = self.per_process_batch(global_batch, "global batch")
        starts = ((step * self.world_size + self.rank) * size for step in range(self.accumulation))
        return [slice(start, start + size) for start in starts]

    def micro_steps(self, model: torch.nn.Module, global_batch: int) -> Iterator[slice]:
        """`micro_batches`, with the loop body of all but the last inside DDP's `no_sync`: the
        gradients are all-reduced once per global batch, in the last micro-batch's backward.

        Hand-rolled rather than `Accelerator.accumulate`, whose sync decision comes from a step
        counter kept across calls; here a global batch is always exactly `accumulation` slices."""
        slices = self.micro_batches(global_batch)
        for index, part in enumerate(slices):
            last = index == len(slices) - 1
            with contextlib.nullcontext() if last or not self.active else self.accelerator.no_sync(model):
                yield part

    def device(self, requested: str | torch.device) -> torch.device:
        """The requested device; under accelerate this process's (cuda:LOCAL_RANK), of the same type."""
        requested = torch.device(requested)
        if not self.active:
            return requested
        mine = self.accelerator.device
        if mine.type != requested.type:
            raise ConfigError(f"--device {requested.type} but accelerate placed process {self.rank} on {mine}; "
                              f"pass --cpu to `accelerate launch` for CPU processes, or --device {mine.type}")
        return mine

    def prepare(self, model: torch.nn.Module) -> torch.nn.Module:
        """`model` wrapped for DDP, its BatchNorms synchronised over the processes (normalising by the
        global batch, as one process does); the same module, untouched, for one process."""
        if not self.active:
            return model
        if self.world_size > 1:
            from cxrbench.baselines.sync_batch_norm import sync_batch_norms

            assert sync_batch_norms(model, self.accelerator.device) is model, "a model that is itself a BatchNorm"
        return self.accelerator.prepare_model(model)

    def loss_normaliser(self, mask_count: int) -> float:
        """What one process divides its slice's summed loss by, so that DDP's mean over processes
        of the accumulated gradients is the gradient of the global batch's mean loss
        (`mask_count`: the global batch's counted entries)."""
        return max(mask_count, 1) / (self.world_size * self.accumulation)

    def backward(self, loss: torch.Tensor) -> None:
        """Backward of one micro-batch's loss, scaled so that a step's gradient is the global mean."""
        if self.active:
            self.accelerator.backward(loss / self.accumulation)
        else:
            loss.backward()

    def step_done(self, module: torch.nn.Module) -> None:
        """After a global batch's micro-batches: makes every process's buffers of `module`
        (BatchNorm running statistics) rank 0's, as DDP's own buffer broadcast does, so that EMA
        and validation are identical on every process."""
        if self.world_size == 1:  # one process accumulating: nothing to share
            return
        for buffer in module.buffers():
            torch.distributed.broadcast(buffer, src=0)

    def sum(self, value: torch.Tensor) -> torch.Tensor:
        """Sum over processes (every process gets it); the value itself for one process."""
        return self.accelerator.reduce(value, reduction="sum") if self.active else value

    def main_first(self):
        """Rank 0 runs the block first (e.g. fills a cache), the others after it: one writer."""
        return self.accelerator.main_process_first() if self.active else contextlib.nullcontext()

    def barrier(self) -> None:
        if self.active:
            self.accelerator.wait_for_everyone()
