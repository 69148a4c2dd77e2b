"""A local Hugging Face Hub cache built here, offline: the layout `huggingface_hub` writes
(`models--org--name/{blobs,refs,snapshots}`, snapshot files as links into `blobs/`)."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path


def add_snapshot(cache: Path, repo_id: str, source: Path, *, ref: str | None = "main", seed: str = "") -> str:
    """Put the files of folder `source` into `cache` as one commit of `repo_id` (named `ref`); its hash."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    files = sorted(p for p in source.rglob("*") if p.is_file())
    commit = hashlib.sha1((seed + "".join(f"{p.relative_to(source)}:{hashlib.sha256(p.read_bytes()).hexdigest()}"
                                          for p in files)).encode()).hexdigest()
    for path in files:
        data = path.read_bytes()
        blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(data)
        link = repo / "snapshots" / commit / path.relative_to(source)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    if ref is not None:
        (repo / "refs").mkdir(parents=True, exist_ok=True)
        (repo / "refs" / ref).write_text(commit)
    return commit


def timm_hub_folder(folder: Path, checkpoint: Path, architecture: str, labels: int, mean=(0.5,), std=(0.25,)) -> Path:
    """What `timm.models.push_to_hf_hub` uploads: config.json (architecture, pretrained_cfg) and model.safetensors."""
    import json

    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(checkpoint, folder / "model.safetensors")
    (folder / "config.json").write_text(json.dumps({
        "architecture": architecture, "num_classes": labels,
        "pretrained_cfg": {"mean": list(mean), "std": list(std), "input_size": [1, 32, 32]}}))
    return folder
