"""Counter-based Gaussian noise: N(0, 1) values that are a pure function of (seed, step, pixel),
with the same bits on every CPU, GPU and instruction set.

The DDPM sampler needs fresh noise for every image at every one of its steps. Drawing it from one
`torch.Generator` per image is a host loop per step (and CPU-only for exact reproducibility);
here each value is a hash of its coordinates, computed with integer tensor ops on whatever
device holds the batch, so it needs no generator state, no host work inside the step loop, and
is independent of batch size and order by construction.

The hash is Chris Wellons' `lowbias32` (a 32-bit integer finaliser with good avalanche), chained
over the seed's two 32-bit words, the step and the pixel index; two independent words come out
of it. 32-bit arithmetic is emulated in int64 without ever overflowing (a multiply by a 32-bit
constant is split in 16-bit halves), so the integers are identical on every device and backend.

The normal itself is integer-exact too (`exact_normal`): one word is a two-sided tail
probability q = (2u + 1) / 2^33, and |z| = Φ⁻¹(1 − q/2) is read from a table of fixed-point
quantiles (`normal_quantiles.safetensors`: 65 nodes per power-of-two octave of q, 21 fraction
bits, computed to 40 digits by `scripts/normal_quantiles.py`) with integer linear interpolation
(at most 1.3e-5 from the true quantile); the other word's top bit is the sign. The only float
operations are an int → float32 conversion of a value below 2^24 and a scaling by 2^-21, both
exact, so no `log`/`cos` whose last bit depends on the CPU's instruction set or the GPU's libm.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

_MASK32 = 0xFFFFFFFF
_M1, _M2 = 0x7FEB352D, 0x846CA68B  # lowbias32 multipliers
_GOLDEN = 0x9E3779B9  # separates the streams of the two words
_SIGN_BIT = 1 << 31

QUANTILES_FILE = Path(__file__).with_name("normal_quantiles.safetensors")
#: octaves of x = 2u + 1 (1 <= x < 2^33); each holds 2^NODE_BITS intervals (2^NODE_BITS + 1 nodes)
OCTAVES, NODE_BITS = 33, 6
#: the table's fixed point: |z| = value / 2^FRACTION_BITS (|z| < 6.5, so every value is below 2^24)
FRACTION_BITS = 21


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


@lru_cache(maxsize=1)
def quantile_table() -> torch.Tensor:
    """The shipped fixed-point quantiles, int64 (OCTAVES * (2^NODE_BITS + 1),) on the CPU."""
    from safetensors.torch import load_file

    table = load_file(str(QUANTILES_FILE))["magnitude"]
    if tuple(table.shape) != (OCTAVES, 2 ** NODE_BITS + 1) or table.dtype != torch.int64:
        raise ValueError(f"{QUANTILES_FILE}: expected int64 ({OCTAVES}, {2 ** NODE_BITS + 1}), got "
                         f"{table.dtype} {tuple(table.shape)}")
    return table.reshape(-1)


def exact_normal(magnitude_word: torch.Tensor, sign_word: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """float32 N(0, 1) from two int64 words in [0, 2^32), by integer arithmetic only (see the module)."""
    x = 2 * magnitude_word + 1  # odd, 1 <= x < 2^33: q = x / 2^33 never reaches 0 or 1
    # octave j = floor(log2 x): the exponent of float32(x), one lower where rounding carried it up
    exponent = ((x.float().view(torch.int32) >> 23) & 0xFF).long() - 127
    j = exponent - ((x >> exponent) == 0).long()
    scaled = (x - (1 << j)) << NODE_BITS  # position inside the octave, in units of 2^-NODE_BITS of it
    node = scaled >> j
    remainder = scaled - (node << j)  # 0 <= remainder < 2^j: the fraction between two nodes, times 2^j
    index = j * (2 ** NODE_BITS + 1) + node
    low, high = table[index], table[index + 1]
    magnitude = low + (((high - low) * remainder) >> j)
    signed = torch.where(sign_word >= _SIGN_BIT, -magnitude, magnitude)
    return signed.float() * (2.0 ** -FRACTION_BITS)


def counter_normal(keys: torch.Tensor, step: torch.Tensor, pixels: torch.Tensor,
                   table: torch.Tensor | None = None) -> torch.Tensor:
    """float32 N(0, 1) of shape (N, P): value (n, p) depends only on (keys[n], step, pixels[p]).

    `keys` (N, 1) from `image_keys`, `step` a 0-d int64 tensor (a stream index: the step number),
    `pixels` int64 (P,) flat pixel indices, `table` `quantile_table()` on the same device (staged
    once by the caller; default: loaded here); all on the device that computes the noise.
    """
    if table is None:
        table = quantile_table().to(keys.device)
    base = _mix32(keys ^ _mix32(step & _MASK32))
    h = _mix32(base ^ pixels[None, :])
    u1 = _mix32(h ^ _GOLDEN)
    u2 = _mix32((h + _GOLDEN) & _MASK32)
    return exact_normal(u1, u2, table)
