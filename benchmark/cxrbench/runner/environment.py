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


def cpu_model() -> str:
    """The CPU's model name (`/proc/cpuinfo`; aarch64 kernels name only its implementer and part)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        text = ""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and value.strip():
            fields.setdefault(key.strip(), value.strip())
    if "model name" in fields:
        return fields["model name"]
    if "CPU implementer" in fields:
        return f"implementer {fields['CPU implementer']} part {fields.get('CPU part', '?')}"
    return platform.processor() or "unknown"


def hardware() -> dict:
    """What decides a run's last bits besides the code: the CPU, the instruction set ATen dispatches
    to and the thread counts (`docs/reproducibility.md`), and the GPU when there is one."""
    found: dict = {"machine": platform.machine(), "cpus": os.cpu_count(), "cpu_model": cpu_model(),
                   "omp_num_threads": os.environ.get("OMP_NUM_THREADS")}
    try:
        import torch

        found["isa"] = torch.backends.cpu.get_cpu_capability()
        found["torch_threads"] = torch.get_num_threads()
        if torch.cuda.is_available():
            found["gpu"] = torch.cuda.get_device_name(0)
    except Exception:  # noqa: BLE001 - a broken torch install must not cost the record
        pass
    return found


def environment(isolation: dict | None = None, training: dict | None = None) -> Environment:
    """Versions and hardware that produced a record, how submission code was isolated, and
    (`training`) how many processes trained each reference run and whether that count matters."""
    found = hardware()
    if training is not None:
        found["training"] = training
    return Environment(cxrbench_version=__version__, git_sha=git_sha(), python=sys.version.split()[0],
                       platform=platform.platform(), libraries=library_versions(), hardware=found,
                       isolation=isolation or {})
