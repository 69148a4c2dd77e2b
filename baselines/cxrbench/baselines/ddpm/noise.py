"""Counter-based Gaussian noise: N(0, 1) values that are a pure function of (seed, step, pixel).

The DDPM sampler needs fresh noise for every image at every one of its steps. Drawing it from one
`torch.Generator` per image is a host loop per step (and CPU-only for exact reproducibility);
here each value is a hash of its coordinates, computed with integer tensor ops on whatever
device holds the batch, so it needs no generator state, no host work inside the step loop, and
is independent of batch size and order by construction.

The hash is Chris Wellons' `lowbias32` (a 32-bit integer finaliser with good avalanche), chained
over the seed's two 32-bit words, the step and the pixel index; two independent words give two
uniforms and Box–Muller turns them into one normal. 32-bit arithmetic is emulated in int64
without ever overflowing (a multiply by a 32-bit constant is split in 16-bit halves), so the
integers are identical on every device and backend; the final float math (log, sqrt, cos) can
differ between devices in the last ulp.
"""

from __future__ import annotations

import numpy as np
import torch

_MASK32 = 0xFFFFFFFF
_M1, _M2 = 0x7FEB352D, 0x846CA68B  # lowbias32 multipliers
_GOLDEN = 0x9E3779B9  # separates the streams of the two uniforms
_TWO_PI = 6.283185307179586


def _mul32(x: torch.Tensor, constant: int) -> torch.Tensor:
    """(x * constant) mod 2^32 for 0 <= x < 2^32 held in int64, without int64 overflow."""
    lo, hi = constant & 0xFFFF, constant >> 16
    return (x * lo + (((x * hi) & 0xFFFF) << 16)) & _MASK32


def _mix32(x: torch.Tensor) -> torch.Tensor:
    x = x ^ (x >> 16)
    x = _mul32(x, _M1)
    x = x ^ (x >> 15)
    x = _mul32(x, _M2)
    return x ^ (x >> 16)


def seed_words(seeds: np.ndarray) -> torch.Tensor:
    """int64 seeds (N,) → int64 (N, 2): their low and high 32-bit words (two's complement)."""
    s = np.asarray(seeds, dtype=np.int64).view(np.uint64)
    words = np.stack([s & np.uint64(_MASK32), s >> np.uint64(32)], axis=1)
    return torch.from_numpy(words.astype(np.int64))


def image_keys(words: torch.Tensor) -> torch.Tensor:
    """(N, 2) seed words → (N, 1) int64 key per image (a hash of both words)."""
    return _mix32(_mix32(words[:, :1]) ^ words[:, 1:2])


def counter_normal(keys: torch.Tensor, step: torch.Tensor, pixels: torch.Tensor) -> torch.Tensor:
    """float32 N(0, 1) of shape (N, P): value (n, p) depends only on (keys[n], step, pixels[p]).

    `keys` (N, 1) from `image_keys`, `step` a 0-d int64 tensor (a stream index: the step number),
    `pixels` int64 (P,) flat pixel indices; all on the device that computes the noise.
    """
    base = _mix32(keys ^ _mix32(step & _MASK32))
    h = _mix32(base ^ pixels[None, :])
    u1 = _mix32(h ^ _GOLDEN)
    u2 = _mix32((h + _GOLDEN) & _MASK32)
    # 24-bit uniforms in (0, 1): both ends excluded, so log never sees 0
    f1 = ((u1 >> 8).float() + 0.5) * (1.0 / 16777216.0)
    f2 = ((u2 >> 8).float() + 0.5) * (1.0 / 16777216.0)
    return torch.sqrt(-2.0 * torch.log(f1)) * torch.cos(_TWO_PI * f2)
