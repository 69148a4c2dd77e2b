"""What sampling and training share on an accelerator: staging host tensors onto the device
(pinned memory, non-blocking) and checking that `torch.compile` has a backend to compile with."""

from __future__ import annotations

import shutil

import torch

from cxrbench.errors import ConfigError

COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


def to_device(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """`tensor` on `device`; from pinned memory without blocking the host when it is a GPU.

    The copy is ordered on the current stream, so kernels queued after it see the data."""
    if device.type != "cuda" or tensor.device.type != "cpu":
        return tensor.to(device)
    return tensor.pin_memory().to(device, non_blocking=True)


def compiler_problem(device: torch.device) -> str | None:
    """Why inductor cannot compile for `device` here, or None when it can."""
    if device.type == "cuda":
        try:
            from torch.utils._triton import has_triton
        except ImportError:  # pragma: no cover - very old torch
            return "triton is not importable"
        return None if has_triton() else "triton (inductor's GPU backend) is not installed"
    if device.type == "cpu":
        if any(shutil.which(cc) for cc in ("g++", "c++", "clang++")):
            return None
        return "no C++ compiler (g++/clang++) on PATH for inductor's CPU backend"
    return f"torch.compile has no backend for device type {device.type!r}"


def check_compile(mode: str | None, device: torch.device) -> None:
    """ConfigError (one line) when `mode` cannot work on `device`."""
    if mode is None:
        return
    if mode not in COMPILE_MODES:
        raise ConfigError(f"unknown compile mode {mode!r}; known: {', '.join(COMPILE_MODES)} (or none)")
    if device.type != "cuda" and mode in ("reduce-overhead", "max-autotune"):
        raise ConfigError(f"compile mode {mode!r} uses CUDA graphs and needs a CUDA device, not "
                          f"{device.type}; use 'default' or no compile")
    problem = compiler_problem(device)
    if problem:
        raise ConfigError(f"compile mode {mode!r} requested on {device.type} but {problem}; "
                          f"run without compiling (compile_mode=None)")
