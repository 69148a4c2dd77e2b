"""MODEL_CARD.md beside shipped weights: what it is, what it saw, how to rebuild it, its hash."""

from __future__ import annotations

import re
from pathlib import Path

from cxrbench.baselines.ddpm.model import CONFIG_FILE, PIPELINE_INDEX, WEIGHTS_FILE
from cxrbench.baselines.ddpm.presets import GeneratorConfig
from cxrbench.data.file_digest import file_sha256

CARD_FILE = "MODEL_CARD.md"
LOAD_SECTION = """## Load

A diffusers pipeline folder (`model_index.json`; `unet/`, `condition_encoder/`, `scheduler/`, safetensors only):

```python
from cxrbench.baselines.ddpm.pipeline import CxrDDPMPipeline
pipe = CxrDDPMPipeline.from_pretrained(folder)
images = pipe(condition_rows, seeds=seeds, num_inference_steps=10).images  # uint8 (N, S, S)

# or through diffusers' own loader (the pipeline class is cxrbench's code, so it must be named and trusted):
import cxrbench.baselines.ddpm.pipeline as cxr
from diffusers import DiffusionPipeline
pipe = DiffusionPipeline.from_pretrained(folder, custom_pipeline=cxr.__file__, trust_remote_code=True)
```
"""
_HASH_ROW = re.compile(r"^\| `[^`]+` sha256 \| `[0-9a-f]{64}` \|$")


def card_hashes(directory: str | Path) -> dict[str, str]:
    """{file name: sha256} as the folder's MODEL_CARD.md states them (empty when there is no card)."""
    import re

    card = Path(directory) / CARD_FILE
    if not card.is_file():
        return {}
    return dict(re.findall(r"^\| `([^`]+)` sha256 \| `([0-9a-f]{64})` \|$", card.read_text(), flags=re.M))


def verify_against_card(directory: str | Path) -> None:
    """Raise ConfigError when a weights or config file differs from the sha256 its model card states."""
    from cxrbench.errors import ConfigError

    directory = Path(directory)
    for name, want in card_hashes(directory).items():
        got = file_sha256(directory / name) if (directory / name).is_file() else "missing"
        if got != want:
            raise ConfigError(f"{directory / name}: sha256 {got[:12]}… differs from {CARD_FILE}'s {want[:12]}… "
                              f"(corrupted or replaced weights; reinstall or retrain them)")


def hashed_files(directory: str | Path) -> list[str]:
    """The files a card pins by sha256: every config and weights file of the folder (relative paths)."""
    directory = Path(directory)
    if not (directory / PIPELINE_INDEX).is_file():
        return [WEIGHTS_FILE, CONFIG_FILE]
    files = [p for p in directory.rglob("*") if p.is_file() and p.suffix in (".json", ".safetensors")]
    return sorted(str(p.relative_to(directory)) for p in files if not p.relative_to(directory).parts[0].startswith("."))


def hash_rows(directory: str | Path) -> list[str]:
    directory = Path(directory)
    return [f"| `{rel}` sha256 | `{file_sha256(directory / rel)}` |" for rel in hashed_files(directory)]


def rewrite_card_hashes(directory: str | Path) -> Path:
    """Replace the card's sha256 rows with those of the folder's current files (nothing else changes)."""
    path = Path(directory) / CARD_FILE
    lines = path.read_text().split("\n")
    at = [i for i, line in enumerate(lines) if _HASH_ROW.match(line)]
    if not at:
        raise ValueError(f"{path}: no sha256 rows to rewrite")
    lines[at[0]:at[-1] + 1] = hash_rows(directory)
    path.write_text("\n".join(lines))
    return path


def write_model_card(directory: str | Path, config: GeneratorConfig, *, n_parameters: int, data: str,
                     data_fingerprint: str, pixels_sha256: str, n_images: int, command: str, settings: dict,
                     final_loss: float | None, train_seconds: float, environment: str, n_patients: int = 0) -> Path:
    directory = Path(directory)
    lines = [
        f"# Reference conditional DDPM — `{config.preset}`",
        "",
        "Pixel-space conditional DDPM (diffusers `UNet2DModel`, class embedding fed by a condition MLP "
        "with a learned null embedding for classifier-free guidance), v-prediction, cosine schedule "
        "with zero terminal SNR, 1000 training steps. EMA weights.",
        "",
        "| field | value |",
        "|---|---|",
        f"| preset | `{config.preset}` ({config.image_size}×{config.image_size}, channels {list(config.block_out_channels)}, "
        f"{config.layers_per_block} res block(s)/level, attention {list(config.attention_levels)}) |",
        f"| parameters | {n_parameters:,} |",
        f"| trained on | {data} |",
        f"| training images | {n_images} |",
        *([f"| training patients | {n_patients} |"] if n_patients else []),
        f"| data fingerprint | sha256 of sorted training image ids: `{data_fingerprint}` |",
        f"| training pixels sha256 | `{pixels_sha256}` (uint8, row order) |",
        f"| training settings | `{settings}` |",
        f"| final logged loss (v-MSE) | {final_loss if final_loss is None else f'{final_loss:.4f}'} |",
        f"| training time | {train_seconds / 60:.1f} min on {environment} |",
        *hash_rows(directory),
        "",
        *LOAD_SECTION.split("\n"),
        "## Reproduce",
        "",
        "```",
        command,
        "```",
        "",
        "The same command on the same kind of machine (CPU, same thread count) gives the same weights; "
        "other hardware gives a model of the same quality but not bit-identical weights. "
        "The loss curve is `loss.csv` in this folder.",
        "",
        "## Intended use and limits",
        "",
        "A reference generator for the cxrbench phantom profile. It has seen only the phantom "
        "internal site's training split; it knows nothing about real radiographs.",
        "",
    ]
    path = directory / CARD_FILE
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text("\n".join(lines))
    tmp.replace(path)
    return path
