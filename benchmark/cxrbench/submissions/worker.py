"""The process a submission's code runs in: `python -m cxrbench.submissions.worker WORKDIR`.

It runs under bubblewrap (`bwrap.py`); the audit hook it installs (refusing network connections
and file access outside the submission, the work directory and the Python installation) is a
second layer only: `gc` or `ctypes` can undo it, the namespaces they cannot. It imports the entry
point and streams outputs back as `.npy` shards plus one JSON line per shard on the protocol
channel (the original stdout; the submission's own prints go to stderr). The parent
(`sandbox.py`, `protocol.py`) re-checks every event and shard; this side only does the first
check, so a broken submission fails with a message that names the problem.
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import sys
import traceback
from pathlib import Path

import numpy as np


class SandboxViolation(PermissionError):
    pass


def _install_guard(allowed_read: list[str], allowed_write: list[str], denied: list[str]) -> None:
    allowed_read = [os.path.realpath(p) for p in allowed_read]
    allowed_write = [os.path.realpath(p) for p in allowed_write]
    denied = [os.path.realpath(p) for p in denied]

    def inside(path: str, roots: list[str]) -> bool:
        return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots)

    def hook(event: str, args: tuple) -> None:
        if event == "open":
            target, mode = args[0], args[1]
            if isinstance(target, int) or target is None:
                return
            if isinstance(target, bytes):
                target = target.decode(errors="replace")
            path = os.path.realpath(os.fspath(target))
            writing = isinstance(mode, str) and any(c in mode for c in "wax+")
            if isinstance(args[2], int) and args[2] & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
                writing = True
            if inside(path, denied) or not inside(path, allowed_write if writing else allowed_read):
                raise SandboxViolation(
                    f"submission tried to {'write' if writing else 'read'} {path}, outside its sandbox "
                    f"(it may read its own directory and the Python installation, and write only its work directory)")
        elif event in ("socket.connect", "socket.getaddrinfo", "socket.bind") and not (
            event == "socket.bind" and args and getattr(args[0], "family", None) == getattr(__import__("socket"), "AF_UNIX", -1)
        ):
            raise SandboxViolation(f"submission tried network access ({event}); submissions run without network")

    sys.addaudithook(hook)


def _load_entry(submission_dir: Path, entry_point: str, device: str, label_names: list[str] | None = None,
                hub: dict[str, str] | None = None):
    module_name, cls_name = entry_point.split(":")
    sys.path.insert(0, str(submission_dir))
    module = importlib.import_module(module_name)
    cls = getattr(module, cls_name, None)
    if cls is None:
        raise AttributeError(f"entry point {entry_point!r}: module {module_name!r} has no attribute {cls_name!r}")
    return cls(**_accepted(cls, {"submission_dir": submission_dir, "device": device, "label_names": label_names,
                                 "hub": hub or {}}))


def _accepted(fn, offered: dict) -> dict:
    """The offered keyword arguments that `fn` declares (each one optional for the submission)."""
    params = inspect.signature(fn).parameters
    return {k: v for k, v in offered.items() if k in params}


_PROTOCOL = None  # the original stdout, kept for events; fd 1 then points at stderr


def _open_protocol() -> None:
    global _PROTOCOL
    _PROTOCOL = os.fdopen(os.dup(1), "w", buffering=1)
    sys.stdout.flush()
    os.dup2(2, 1)


def _emit(**msg) -> None:
    out = _PROTOCOL or sys.stdout
    out.write(json.dumps(msg) + "\n")
    out.flush()


def _save(path: Path, array: np.ndarray) -> None:
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, array)
    os.replace(tmp, path)


def run(workdir: Path) -> None:
    req = json.loads((workdir / "request.json").read_text())
    sub_dir = Path(req["submission_dir"])
    _install_guard(req["allowed_read"] + [str(workdir), str(sub_dir)], [str(workdir)] + req["allowed_write"],
                   req["denied"])
    os.chdir(workdir)
    obj = _load_entry(sub_dir, req["entry_point"], req["device"], req.get("label_names"), req.get("hub"))
    out = workdir / "out"
    out.mkdir(exist_ok=True)
    mode = req["mode"]
    if mode == "generate":
        import pandas as pd

        from cxrbench.data.preprocess import check_images

        table = pd.read_parquet(workdir / "conditions.parquet")
        for shard in req["shards"]:
            rows = table.iloc[shard["start"]:shard["stop"]].reset_index(drop=True)
            seeds = rows.pop("seed").to_numpy(np.int64)
            rows = rows.drop(columns=["request_id"])
            images = obj.generate(rows, seeds, int(req["size"]))
            images = np.asarray(images)
            check_images(images, "generate() returned", n=len(rows), size=int(req["size"]), error=ValueError)
            _save(out / f"{shard['name']}.npy", images)
            _emit(event="shard", name=shard["name"], n=len(rows))
    elif mode == "predict":
        labels = req["label_names"]
        if req.get("fit") and hasattr(obj, "fit"):
            train_x = np.load(workdir / "train_images.npy", mmap_mode="r")
            train_y = np.load(workdir / "train_labels.npy")
            # the task's reference recipe (its fields), training-label policy and seed, for a fit that wants them
            offered = {"recipe": req.get("recipe"), "uncertainty_policy": req.get("uncertainty_policy"),
                       "seed": int(req.get("seed", 0))}
            obj.fit(train_x, train_y, list(labels), **_accepted(obj.fit, offered))
            _emit(event="fitted", n=len(train_x))
        for shard in req["shards"]:
            images = np.load(workdir / f"{shard['name']}.images.npy", mmap_mode="r")
            probs = np.asarray(obj.predict(np.ascontiguousarray(images)), dtype=np.float64)
            if probs.shape != (len(images), len(labels)):
                raise ValueError(f"predict returned shape {probs.shape}; expected ({len(images)}, {len(labels)}) "
                                 f"(one probability per image and label)")
            if not np.isfinite(probs).all():
                raise ValueError(f"predict returned {int((~np.isfinite(probs)).sum())} NaN/inf value(s)")
            _save(out / f"{shard['name']}.npy", probs.astype(np.float32))
            _emit(event="shard", name=shard["name"], n=len(images))
    else:
        raise ValueError(f"unknown mode {mode!r}")
    _emit(event="done")


def _adopt_orphans() -> None:
    """Become the subreaper of the submission's processes: a daemon (double fork, setsid) stays in
    this process's tree, where the parent's watchdog sees it and `_end_descendants` ends it."""
    import ctypes

    try:
        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass


def _end_descendants() -> None:
    """Kill every process the submission left behind (unsandboxed runs have no PID namespace to end them)."""
    import signal

    from cxrbench.submissions.limits import tree_pids

    for pid in tree_pids(os.getpid())[1:]:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def main() -> None:
    workdir = Path(sys.argv[1])
    _open_protocol()
    _adopt_orphans()
    try:
        run(workdir)
    except BaseException as exc:  # report every failure, then exit non-zero
        (workdir / "error.txt").write_text(f"{type(exc).__name__}: {exc}\n\n{traceback.format_exc()}")
        _emit(event="error", error=f"{type(exc).__name__}: {exc}")
        _end_descendants()
        sys.exit(3)
    _end_descendants()


if __name__ == "__main__":
    main()
