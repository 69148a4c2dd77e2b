"""Per-GPU isolation: a sandboxed job binds the NVIDIA control devices and its own GPUs' nodes
only, and sees only its GPUs in the driver's listing (fake /dev and /proc trees: no GPU needed)."""

import pytest

from cxrbench.errors import ConfigError
from cxrbench.submissions import bwrap
from cxrbench.submissions.gpu_devices import device_nodes, installed_gpus, sandbox_visible_devices

#: (PCI bus id, device minor, UUID) of a 4-GPU node whose minors are not in bus order
GPUS = [("0000:1b:00.0", 2, "GPU-aaaa"), ("0000:3d:00.0", 0, "GPU-bbbb"), ("0000:89:00.0", 3, "GPU-cccc"),
        ("0000:b2:00.0", 1, "GPU-dddd")]


@pytest.fixture
def node(tmp_path):
    dev, proc = tmp_path / "dev", tmp_path / "proc" / "gpus"
    (dev / "nvidia-caps").mkdir(parents=True)
    for name in ("nvidiactl", "nvidia-uvm", "nvidia-uvm-tools", "nvidia-modeset", "nvidia-caps/nvidia-cap1",
                 *(f"nvidia{minor}" for _, minor, _ in GPUS), "null"):
        (dev / name).touch()
    for bus, minor, uuid in reversed(GPUS):
        (proc / bus).mkdir(parents=True)
        (proc / bus / "information").write_text(f"Model: \t NVIDIA H100\nDevice Minor: \t {minor}\n"
                                                 f"GPU UUID: \t {uuid}\nBus Location: \t {bus}\n")
    return dev, proc


def _names(paths):
    return sorted(p.rsplit("/dev/", 1)[1] for p in paths)


CONTROL = ["nvidia-caps/nvidia-cap1", "nvidia-modeset", "nvidia-uvm", "nvidia-uvm-tools", "nvidiactl"]


def test_the_driver_listing_is_read_in_pci_bus_order(node):
    _, proc = node
    assert [g.minor for g in installed_gpus(proc)] == [2, 0, 3, 1]


@pytest.mark.parametrize("visible,minors", [("0", [2]), ("1,2", [0, 3]), ("GPU-dddd", [1]), ("3,GPU-aaaa", [1, 2])])
def test_a_job_sees_the_control_devices_and_its_own_gpus_only(node, visible, minors):
    dev, proc = node
    assert _names(device_nodes(visible, dev, proc)) == sorted(CONTROL + [f"nvidia{m}" for m in minors])


def test_without_an_assignment_every_gpu_is_bound_as_before(node):
    dev, proc = node
    assert _names(device_nodes(None, dev, proc)) == sorted(CONTROL + [f"nvidia{m}" for m in range(4)])


def test_an_assignment_naming_no_gpu_of_the_node_is_refused(node):
    dev, proc = node
    with pytest.raises(ConfigError, match="GPU 7 does not exist here"):
        device_nodes("7", dev, proc)
    with pytest.raises(ConfigError, match="names no single GPU"):
        device_nodes("MIG-1234", dev, proc)


def test_inside_the_sandbox_the_jobs_gpus_count_from_zero():
    assert sandbox_visible_devices("3,1") == "0,1" and sandbox_visible_devices(None) is None


def test_the_bwrap_command_hides_the_other_gpus_listing(node, monkeypatch):
    _, proc = node
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2")
    args = bwrap._other_gpus_hidden(proc)
    assert args == ["--tmpfs", str(proc), "--ro-bind", str(proc / "0000:89:00.0"), str(proc / "0000:89:00.0")]
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    assert bwrap._other_gpus_hidden(proc) == []
