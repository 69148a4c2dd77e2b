"""The bubblewrap command line and the limits' bookkeeping (no sandbox is started here)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cxrbench.baselines.ddpm.model_card import verify_against_card
from cxrbench.errors import ConfigError
from cxrbench.submissions import bwrap
from cxrbench.submissions.limits import Limits, TreeLimits, cgroup_parent


def _cmd(tmp_path, device="cpu", compile_cache=None):
    (tmp_path / "work" / "tmp").mkdir(parents=True, exist_ok=True)
    (tmp_path / "sub").mkdir(exist_ok=True)
    (tmp_path / "empty").touch()
    return bwrap.command(["python", "-m", "w"], work=tmp_path / "work", submission=tmp_path / "sub",
                         package=tmp_path / "pkg", compile_cache=compile_cache, device=device, shm_bytes=1 << 26,
                         env={"HOME": "/sandbox/work"}, empty=tmp_path / "empty")


def _pairs(cmd, flag):
    return [cmd[i + 1:i + 3] for i, a in enumerate(cmd) if a == flag]


def test_namespaces_privileges_and_view(tmp_path):
    cmd = _cmd(tmp_path)
    for flag in ("--unshare-all", "--die-with-parent", "--new-session", "--clearenv"):
        assert flag in cmd
    assert cmd[cmd.index("--cap-drop") + 1] == "ALL" and cmd[cmd.index("--uid") + 1] == "65534"
    assert "--share-net" not in cmd
    ro = {dest for _, dest in _pairs(cmd, "--ro-bind")}
    rw = {dest for _, dest in _pairs(cmd, "--bind")}
    assert {"/sandbox/submission", "/sandbox/python"} <= ro and rw == {"/sandbox/work", "/tmp"}
    assert not any(d in ro for d in ("/etc", "/etc/shadow", "/etc/passwd", "/root", "/home", "/var", "/"))
    assert cmd[cmd.index("--remount-ro") + 1] == "/"
    assert "--dev-bind" not in cmd  # no device nodes of the host on a CPU run
    assert cmd[-3:] == ["python", "-m", "w"] and cmd[-4] == "--"


def test_cuda_binds_only_nvidia_nodes_and_no_address_space_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(bwrap, "cuda_devices", lambda: ["/dev/nvidia0", "/dev/nvidiactl", "/dev/nvidia-uvm"])
    cmd = _cmd(tmp_path, device="cuda", compile_cache=tmp_path / "cc")
    assert [src for src, _ in _pairs(cmd, "--dev-bind")] == ["/dev/nvidia0", "/dev/nvidiactl", "/dev/nvidia-uvm"]
    assert ["" + str(tmp_path / "cc"), "/sandbox/compile-cache"] in _pairs(cmd, "--bind")
    cuda = TreeLimits(Limits(), "cuda", create=False)
    assert not cuda.address_space_limit and cuda.describe()["memory_limit"] in ("watchdog", "cgroup")
    cpu = TreeLimits(Limits(), "cpu", create=False)
    assert cpu.describe()["memory_limit"] in ("rlimit+watchdog", "cgroup")


def test_an_installation_under_tmp_is_bound_over_the_private_tmp(tmp_path, monkeypatch):
    """A clone or venv under /tmp (`make demo` in /tmp/clone) must stay visible: its bind comes
    after the sandbox's own /tmp, which would otherwise hide it (measured: bwrap execvp failed)."""
    monkeypatch.setattr(bwrap, "python_roots", lambda: ["/opt/py", "/tmp/clone/.venv", "/tmp/clone/benchmark"])
    cmd = _cmd(tmp_path)
    dests = [cmd[i + 2] for i, a in enumerate(cmd) if a in ("--bind", "--ro-bind")]
    tmp_at = dests.index("/tmp")
    assert dests.index("/tmp/clone/.venv") > tmp_at and dests.index("/tmp/clone/benchmark") > tmp_at
    assert dests.index("/opt/py") < tmp_at


def test_cache_inside_the_view_is_detected(tmp_path):
    visible = bwrap.visible_roots(tmp_path / "sub", tmp_path / "work")
    assert bwrap.overlaps(tmp_path / "sub" / "cache", visible) == str(tmp_path / "sub")
    assert bwrap.overlaps(tmp_path, visible) is not None  # a folder holding a visible one
    assert bwrap.overlaps(tmp_path / "elsewhere", visible) is None


def test_cgroup_v2_is_used_only_when_delegated(tmp_path, monkeypatch):
    root = tmp_path / "cgroup"
    assert cgroup_parent(root) is None  # no cgroup2 mount
    own = root / "job"
    own.mkdir(parents=True)
    (root / "cgroup.controllers").write_text("cpu memory pids\n")
    (own / "cgroup.subtree_control").write_text("cpu\n")
    monkeypatch.setattr("cxrbench.submissions.limits._own_cgroup", lambda r: own)
    assert cgroup_parent(root) is None  # memory/pids not delegated to children
    (own / "cgroup.subtree_control").write_text("memory pids\n")
    assert cgroup_parent(root) == own
    tree = TreeLimits(Limits(memory_gb=2, max_processes=10), "cpu", cgroup_root=root)
    assert tree.cgroup is not None and tree.cgroup.parent == own
    assert (tree.cgroup / "memory.max").read_text() == str(2 << 30) and (tree.cgroup / "pids.max").read_text() == "10"
    assert tree.describe()["memory_limit"] == "cgroup" and not tree.address_space_limit
    shutil.rmtree(tree.cgroup)


def test_shipped_weights_match_their_model_card(tmp_path):
    from cxrbench.baselines.ddpm.generator import WEIGHTS_ROOT

    shipped = Path(WEIGHTS_ROOT) / "tiny-32"
    verify_against_card(shipped)
    copy = tmp_path / "tiny-32"
    shutil.copytree(shipped, copy)
    weights = copy / "unet" / "diffusion_pytorch_model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    with pytest.raises(ConfigError, match="differs from MODEL_CARD.md"):
        verify_against_card(copy)
