"""BatchNorm over the global batch when a training step is spread over several processes (DDP).

Each process runs forward on its slice of the global batch; plain BatchNorm would normalise each
slice by its own statistics, so the model would depend on the number of processes. Synchronised,
every process normalises by the statistics of the whole global batch and updates its running
statistics with them, as one process does. On CUDA that is torch's `SyncBatchNorm` (through
timm's converter, which also keeps timm's fused norm + activation layers); torch ships no CPU
kernels for it, so on CPUs (gloo) `GlobalBatchNorm2d` computes the same with differentiable
all-reduces: written here because no library offers a CPU SyncBatchNorm.

A model of one process is never converted: its training is the one-process code, bit for bit.
"""

from __future__ import annotations

import torch
from torch import nn


def _all_reduce(tensor: torch.Tensor) -> torch.Tensor:
    """Sum over processes; its gradient is the sum of every process's gradient (autograd-aware)."""
    from torch.distributed.nn.functional import all_reduce

    return all_reduce(tensor)


def global_batch_norm(module: nn.modules.batchnorm._BatchNorm, x: torch.Tensor) -> torch.Tensor:
    """`module`'s BatchNorm in training mode with the statistics of every process's `x` together."""
    dims = [0, *range(2, x.dim())]
    shape = [1, -1] + [1] * (x.dim() - 2)
    count = torch.tensor([x.numel() / x.shape[1]], dtype=torch.float64, device=x.device)
    torch.distributed.all_reduce(count)
    total = float(count)
    mean = _all_reduce(x.sum(dims, dtype=torch.float32)) / total
    centred = x - mean.view(shape).to(x.dtype)
    var = _all_reduce((centred.float() * centred.float()).sum(dims)) / total  # biased, as batch norm uses
    out = centred * torch.rsqrt(var + module.eps).view(shape).to(x.dtype)
    if module.affine:
        out = out * module.weight.view(shape) + module.bias.view(shape)
    if module.track_running_stats:
        with torch.no_grad():
            module.num_batches_tracked.add_(1)
            factor = module.momentum if module.momentum is not None else 1.0 / float(module.num_batches_tracked)
            module.running_mean.mul_(1 - factor).add_(mean.detach(), alpha=factor)
            unbiased = var.detach() * (total / max(total - 1, 1))
            module.running_var.mul_(1 - factor).add_(unbiased, alpha=factor)
    return out


def _syncing(module: nn.Module) -> bool:
    return (module.training and torch.distributed.is_available() and torch.distributed.is_initialized()
            and torch.distributed.get_world_size() > 1)


class GlobalBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d normalising by the global batch across processes while training (CPU or GPU)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return global_batch_norm(self, x) if _syncing(self) else super().forward(x)


def _global_norm_act():
    from timm.layers.norm_act import BatchNormAct2d

    class GlobalBatchNormAct2d(BatchNormAct2d):
        """timm's BatchNorm + activation layer, normalising by the global batch while training."""

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if not _syncing(self):
                return super().forward(x)
            return self.act(self.drop(global_batch_norm(self, x)))

    return BatchNormAct2d, GlobalBatchNormAct2d


def _converted(module: nn.modules.batchnorm._BatchNorm) -> nn.Module:
    norm_act, global_norm_act = _global_norm_act()
    cls = global_norm_act if isinstance(module, norm_act) else GlobalBatchNorm2d
    out = cls.__new__(cls)
    out.__dict__.update(module.__dict__)  # the same parameters and buffers (the optimizer holds them)
    return out


def sync_batch_norms(model: nn.Module, device: torch.device) -> nn.Module:
    """`model` with every BatchNorm synchronised across processes (in place; the same parameters)."""
    if device.type == "cuda":
        from timm.layers import convert_sync_batchnorm

        return convert_sync_batchnorm(model)
    if isinstance(model, nn.BatchNorm2d):
        return _converted(model)
    for name, child in model.named_children():
        setattr(model, name, sync_batch_norms(child, device))
    return model


def has_batch_norm(model: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())
