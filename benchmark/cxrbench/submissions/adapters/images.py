"""Model outputs → the benchmark's image format, and the benchmark's images → a model's input."""

from __future__ import annotations

import numpy as np
import torch

_LUMINANCE = (0.299, 0.587, 0.114)


def to_grey(images: torch.Tensor, channel: str) -> torch.Tensor:
    """float (N, C, H, W) → (N, 1, H, W): C = 1 as is; C = 3 by `mean`, `luminance` or `first`."""
    c = images.shape[1]
    if c == 1:
        return images
    if c != 3 and channel != "first":
        raise ValueError(f"the pipeline returns {c}-channel images; channel {channel!r} needs 1 or 3 (use 'first')")
    if channel == "first":
        return images[:, :1]
    if channel == "mean":
        return images.mean(dim=1, keepdim=True)
    weights = torch.tensor(_LUMINANCE, dtype=images.dtype, device=images.device)[None, :, None, None]
    return (images * weights).sum(dim=1, keepdim=True)


def fit_square(images: torch.Tensor, size: int, mode: str) -> torch.Tensor:
    """(N, C, H, W) → (N, C, size, size): longest side resized to `size`, centred on black."""
    n, c, h, w = images.shape
    if (h, w) == (size, size):
        return images
    scale = size / max(h, w)
    th, tw = max(1, round(h * scale)), max(1, round(w * scale))
    kwargs = {"antialias": True, "align_corners": False} if mode in ("bilinear", "bicubic") else {}
    resized = torch.nn.functional.interpolate(images, size=(th, tw), mode=mode, **kwargs)
    if (th, tw) == (size, size):
        return resized
    out = torch.zeros((n, c, size, size), dtype=images.dtype, device=images.device)
    top, left = (size - th) // 2, (size - tw) // 2
    out[:, :, top:top + th, left:left + tw] = resized
    return out


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """[0, 1] float (N, 1, S, S) → uint8 (N, S, S)."""
    return (images.float().clamp(0, 1) * 255).round().to(torch.uint8)[:, 0].cpu().numpy()


def benchmark_images(images: torch.Tensor, size: int, channel: str, resize: str) -> np.ndarray:
    """[0, 1] float (N, C, H, W) from a model → the benchmark's uint8 (N, size, size)."""
    return to_uint8(fit_square(to_grey(images.float(), channel), size, resize))


def resize_images(images: list[np.ndarray], size: int, mode: str) -> list[np.ndarray]:
    """uint8 images of any size → uint8 (size, size) each (longest side, centred on black)."""
    return [to_uint8(fit_square(torch.from_numpy(np.asarray(im, np.float32) / 255.0)[None, None], size, mode))[0]
            for im in images]
