"""Convert a reference-DDPM weights folder from the first releases' flat layout (`config.json` +
`model.safetensors`) to the diffusers pipeline layout, in place, without retraining: the same
tensors, new files. The model card's sha256 rows are rewritten for the new files.

    python scripts/migrate_ddpm_weights.py baselines/cxrbench/baselines/weights/tiny-32
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import torch
from safetensors.torch import load_file


def state_digest(state: dict[str, torch.Tensor]) -> str:
    """sha256 over sorted tensor names, shapes, dtypes and bytes: equal iff the tensors are."""
    h = hashlib.sha256()
    for name in sorted(state):
        t = state[name].contiguous()
        h.update(f"{name}\0{tuple(t.shape)}\0{t.dtype}\0".encode() + t.numpy().tobytes())
    return h.hexdigest()


def main() -> None:
    from cxrbench.baselines.ddpm.model import CONFIG_FILE, WEIGHTS_FILE, load_pretrained, save_pretrained
    from cxrbench.baselines.ddpm.model_card import CARD_FILE, rewrite_card_hashes

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    folder = parser.parse_args().folder
    before = state_digest(load_file(str(folder / WEIGHTS_FILE)))
    model = load_pretrained(folder)
    save_pretrained(model, folder)
    (folder / WEIGHTS_FILE).unlink()
    (folder / CONFIG_FILE).unlink()
    after = state_digest(load_pretrained(folder).state_dict())
    if after != before:
        raise SystemExit(f"tensors changed in the migration: {before} → {after}")
    if (folder / CARD_FILE).is_file():
        rewrite_card_hashes(folder)
    print(f"{folder}: pipeline layout, tensors unchanged (digest {before})")


if __name__ == "__main__":
    main()
