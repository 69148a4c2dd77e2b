"""A feature space's weights folder: safetensors only, identified by the sha256 of its tensors.

Shared by the spaces that load a model from disk (`rad_dino.py`, `xrv_densenet.py`): where the
weights are looked for, the one-line error when they are missing, and the digest that names them
in every cache key and report.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from cxrbench.errors import ConfigError

#: where `cxrbench features fetch NAME` puts a space's weights unless told otherwise
FEATURES_DIR_ENV = "CXRBENCH_FEATURES_DIR"
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")


def default_dir(space: str) -> Path:
    """`$CXRBENCH_FEATURES_DIR/<space>`, or `~/.cache/cxrbench/features/<space>`."""
    root = os.environ.get(FEATURES_DIR_ENV)
    return (Path(root) if root else Path.home() / ".cache" / "cxrbench" / "features") / space


def missing_weights(space: str, where: Path, extra: str | None = None) -> ConfigError:
    """The one line a user reads when a space has no weights: where to put them, how to get them."""
    install = f"pip install 'cxrbench[{extra}]', then " if extra else ""
    return ConfigError(f"feature space {space!r}: no weights in {where}; {install}run `cxrbench features fetch "
                       f"{space} --out {where}` on a machine with network (or pass --feature-weights FOLDER)")


def safetensors_digest(folder: Path, space: str) -> str:
    """sha256 over the folder's .safetensors files (name and bytes, sorted); ConfigError on a pickle or none."""
    pickles = sorted(p.name for p in folder.iterdir() if p.suffix in PICKLE_SUFFIXES)
    if pickles:
        raise ConfigError(f"feature space {space!r}: {folder / pickles[0]} is a pickle; weights load from "
                          f"safetensors only (`cxrbench features fetch {space}` writes them)")
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        raise missing_weights(space, folder)
    h = hashlib.sha256()
    for path in files:
        with open(path, "rb") as fh:
            h.update(path.name.encode() + b"\0" + hashlib.file_digest(fh, "sha256").digest())
    return h.hexdigest()
