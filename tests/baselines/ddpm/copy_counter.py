"""A dispatch mode that records host→device traffic: the CPU stand-in for CUDA's sync checks.

Run the sampler on `device="meta"` (the CUDA path without data) inside `HostTraffic()`: every
aten op that reads a CPU tensor while producing a tensor on another device is an implicit
host→device copy (on CUDA, a pageable copy or a scalar upload per step), and
`_local_scalar_dense` (`.item()`, `bool(tensor)`) on a device tensor is a host sync.
"""

from __future__ import annotations

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves


class HostTraffic(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.copies: list[str] = []
        self.syncs: list[str] = []
        self.ops = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        self.ops += 1
        inputs = [t for t in tree_leaves((args, kwargs)) if isinstance(t, torch.Tensor)]
        outputs = [t for t in tree_leaves(out) if isinstance(t, torch.Tensor)]
        if func is torch.ops.aten._local_scalar_dense.default and inputs[0].device.type != "cpu":
            self.syncs.append(str(func))
        elif any(t.device.type == "cpu" for t in inputs) and any(t.device.type != "cpu" for t in outputs):
            self.copies.append(f"{func} ({', '.join(str(tuple(t.shape)) for t in inputs if t.device.type == 'cpu')})")
        elif not inputs and any(t.device.type != "cpu" for t in outputs) and func in _FROM_HOST:
            self.copies.append(str(func))
        return out


# factory ops that carry host data into a device tensor (torch.tensor(..., device=...))
_FROM_HOST = {torch.ops.aten.lift_fresh.default, torch.ops.aten.lift_fresh_copy.default}
