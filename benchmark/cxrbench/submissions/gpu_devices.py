"""Which NVIDIA device nodes a sandboxed job may see: the control devices, and the nodes of the
GPUs assigned to the job only (`CUDA_VISIBLE_DEVICES`, as Ray and Slurm set it per task), so two
jobs on one node cannot touch each other's GPU.

A GPU's node is `/dev/nvidia<minor>`; the driver lists each GPU with its minor number and UUID in
`/proc/driver/nvidia/gpus/<PCI bus id>/information`. An index in `CUDA_VISIBLE_DEVICES` counts
GPUs in PCI bus order (as NVML, nvidia-smi and Ray do; CUDA does with `CUDA_DEVICE_ORDER=PCI_BUS_ID`,
which the sandbox sets); a `GPU-<uuid>` entry names one GPU. Inside the sandbox the job's GPUs
are numbered from 0 (`sandbox_visible_devices`).
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path
from typing import overload

from cxrbench.errors import ConfigError

#: device nodes every CUDA process needs besides its GPUs' own
CONTROL_NODES = ("nvidiactl", "nvidia-uvm", "nvidia-uvm-tools", "nvidia-modeset")


@dataclass(frozen=True)
class Gpu:
    bus_id: str
    minor: int
    uuid: str


def installed_gpus(proc: str | Path = "/proc/driver/nvidia/gpus") -> list[Gpu]:
    """The node's GPUs in PCI bus order, from the driver's own listing (none without a driver)."""
    gpus = []
    for folder in sorted(Path(proc).glob("*")):
        fields = {}
        try:
            for line in (folder / "information").read_text().splitlines():
                key, sep, value = line.partition(":")
                if sep:
                    fields[key.strip()] = value.strip()
        except OSError:
            continue
        if "Device Minor" in fields:
            gpus.append(Gpu(folder.name, int(fields["Device Minor"]), fields.get("GPU UUID", "")))
    return sorted(gpus, key=lambda g: g.bus_id.lower())


def assigned_gpus(visible: str | None, gpus: list[Gpu]) -> list[Gpu] | None:
    """The GPUs `CUDA_VISIBLE_DEVICES` names (None when unset: every GPU of the node)."""
    if visible is None:
        return None
    chosen = []
    for entry in (e.strip() for e in visible.split(",")):
        if not entry:
            continue
        if entry.isdigit():
            if int(entry) >= len(gpus):
                raise ConfigError(f"CUDA_VISIBLE_DEVICES={visible}: GPU {entry} does not exist here "
                                  f"({len(gpus)} GPU(s) listed by the driver)")
            chosen.append(gpus[int(entry)])
        else:
            match = [g for g in gpus if g.uuid == entry or (entry.startswith("GPU-") and g.uuid.startswith(entry))]
            if len(match) != 1:
                raise ConfigError(f"CUDA_VISIBLE_DEVICES={visible}: {entry!r} names no single GPU of this node "
                                  f"(MIG instances are not isolated per job; give GPU indices or UUIDs)")
            chosen.append(match[0])
    return chosen


def device_nodes(visible: str | None, dev: str | Path = "/dev", proc: str | Path = "/proc/driver/nvidia/gpus") -> list[str]:
    """The device nodes to bind: control nodes (and `nvidia-caps/`) plus the assigned GPUs' nodes;
    every NVIDIA node when no GPU is assigned (CUDA_VISIBLE_DEVICES unset)."""
    dev = str(dev)
    every = sorted(p for p in glob.glob(f"{dev}/nvidia*") if not os.path.isdir(p))
    caps = sorted(glob.glob(f"{dev}/nvidia-caps/*"))
    chosen = assigned_gpus(visible, installed_gpus(proc))
    if chosen is None:
        return every + caps
    mine = {f"{dev}/nvidia{g.minor}" for g in chosen}
    return [p for p in every if os.path.basename(p) in CONTROL_NODES or p in mine] + caps


def visible_gpu_folders(visible: str | None, proc: str | Path = "/proc/driver/nvidia/gpus") -> list[str] | None:
    """The driver's folders of the assigned GPUs (None: every GPU is the job's)."""
    chosen = assigned_gpus(visible, installed_gpus(proc))
    return None if chosen is None else [str(Path(proc) / g.bus_id) for g in chosen]


@overload
def sandbox_visible_devices(visible: str) -> str: ...
@overload
def sandbox_visible_devices(visible: None) -> None: ...
def sandbox_visible_devices(visible: str | None) -> str | None:
    """`CUDA_VISIBLE_DEVICES` inside the sandbox: its GPUs are the only ones there, numbered from 0."""
    if visible is None:
        return None
    return ",".join(str(i) for i, _ in enumerate(e for e in visible.split(",") if e.strip()))
