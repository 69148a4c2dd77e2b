"""What produced a record: library versions, the code's git commit, the hardware, and how
submission code was isolated (`ResultRecord.environment`)."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

from cxrbench.results import Environment
from cxrbench.version import __version__

#: libraries whose versions a record carries (a missing optional one is simply not recorded)
RECORDED_LIBRARIES = ("torch", "timm", "diffusers", "numpy", "pandas", "scipy", "torchmetrics")


def library_versions() -> dict[str, str]:
    libs = {}
    for name in RECORDED_LIBRARIES:
        try:
            libs[name] = __import__(name).__version__
        except Exception:  # noqa: BLE001 - a missing optional library is simply not recorded
            continue
    return libs


def git_sha() -> str | None:
    """The commit of the checkout this code runs from (None outside a git checkout)."""
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                              cwd=Path(__file__).resolve().parent).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def hardware() -> dict:
    found: dict = {"machine": platform.machine(), "cpus": os.cpu_count()}
    try:
        import torch

        found["torch_threads"] = torch.get_num_threads()
        if torch.cuda.is_available():
            found["gpu"] = torch.cuda.get_device_name(0)
    except Exception:  # noqa: BLE001 - a broken torch install must not cost the record
        pass
    return found


def environment(isolation: dict | None = None) -> Environment:
    """Versions and hardware that produced a record, and how submission code was isolated."""
    return Environment(cxrbench_version=__version__, git_sha=git_sha(), python=sys.version.split()[0],
                       platform=platform.platform(), libraries=library_versions(), hardware=hardware(),
                       isolation=isolation or {})
