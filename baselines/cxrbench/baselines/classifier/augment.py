"""Batched augmentation on tensors, on the training device: no per-image PIL, no workers.

Inputs are float images in [-1, 1] of shape (B, 1, S, S); every random draw comes from the
`torch.Generator` passed in, so a seed fixes the augmentation exactly.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from cxrbench.baselines.classifier.recipe import Recipe


def to_model_input(pixels: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 (B, S, S) -> float (B, 1, size, size) in [-1, 1], resized (antialiased) if S != size."""
    x = pixels.unsqueeze(1).float().mul_(2.0 / 255.0).sub_(1.0)
    if x.shape[-1] != size:
        x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return x


def augment(x: torch.Tensor, recipe: Recipe, generator: torch.Generator) -> torch.Tensor:
    """Flips, a small random affine (rotation, translation, scale) and Gaussian noise, per image."""
    b = x.shape[0]
    dev = x.device

    def uniform(low: float, high: float) -> torch.Tensor:
        return torch.rand(b, generator=generator, device=dev) * (high - low) + low

    if recipe.hflip_p > 0:
        flip = torch.rand(b, generator=generator, device=dev) < recipe.hflip_p
        x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    if recipe.rotate_deg > 0 or recipe.translate_frac > 0 or recipe.scale_range > 0:
        angle = uniform(-recipe.rotate_deg, recipe.rotate_deg) * (math.pi / 180)
        scale = uniform(1 - recipe.scale_range, 1 + recipe.scale_range)
        shift = torch.stack([uniform(-recipe.translate_frac, recipe.translate_frac) * 2 for _ in range(2)], 1)
        cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
        theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1),
                             torch.stack([sin, cos, shift[:, 1]], 1)], 1)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        # Sample x + 1 so that the zero padding comes out black (-1), like the collimated border.
        x = F.grid_sample(x + 1, grid, mode="bilinear", padding_mode="zeros", align_corners=False) - 1
    if recipe.noise_std > 0:
        x = x + recipe.noise_std * torch.randn(x.shape, generator=generator, device=dev)
    return x


def mixup(x: torch.Tensor, targets: torch.Tensor, alpha: float, generator: torch.Generator):
    """Mix each image with a permuted partner; a target masked (NaN) in either stays masked."""
    dev = x.device
    lam = _beta(alpha, generator)
    perm = torch.randperm(x.shape[0], generator=generator, device=dev)
    mixed = lam * x + (1 - lam) * x[perm]
    mixed_targets = lam * targets + (1 - lam) * targets[perm]  # NaN propagates: masked
    return mixed, mixed_targets


def _beta(alpha: float, generator: torch.Generator) -> float:
    # Beta(a, a) from two Gamma draws with the seeded generator (torch's Beta takes no generator).
    g = torch._standard_gamma(torch.full((2,), alpha, device=generator.device), generator=generator)
    return float(g[0] / g.sum())
