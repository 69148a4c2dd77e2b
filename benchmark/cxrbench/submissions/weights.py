"""What a submission ships as weights, read from safetensors headers only (no tensor is loaded).

The parameter count a record carries is computed here by cxrbench from the files themselves,
never taken from the manifest: every `.safetensors` file in the submission folder (a diffusers
pipeline's components, a timm checkpoint, declared `weights`) counts once, plus the shipped
cxrbench weights preset a submission's code says it loads (`reference_weights: tiny-32`).
"""

from __future__ import annotations

import math
from pathlib import Path

from cxrbench.errors import SubmissionError


def header_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """{tensor name: shape} from a safetensors header (no tensor is read); SubmissionError if unreadable."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), "pt") as fh:
            return {k: tuple(fh.get_slice(k).get_shape()) for k in fh.keys()}
    except Exception as exc:  # safetensors raises its own error types for corrupt headers
        raise SubmissionError(f"{path}: unreadable safetensors file ({exc})") from None


def parameter_counts(root: Path, files: list[tuple[Path, str, str]]) -> dict[str, int]:
    """{relative path: number of tensor elements} of each regular `.safetensors` file among `files`
    (`manifest.submission_files`; links are skipped: their targets inside the folder count)."""
    return {rel.as_posix(): sum(math.prod(shape) for shape in header_shapes(root / rel).values())
            for rel, kind, _ in files if kind == "file" and rel.suffix == ".safetensors"}


def _shipped_folder(preset: str) -> Path:
    """The shipped weights folder of a reference-DDPM preset; SubmissionError when there is none."""
    from cxrbench.baselines.ddpm.generator import resolve_weights, shipped_weights
    from cxrbench.baselines.ddpm.presets import PRESETS
    from cxrbench.errors import ConfigError

    if preset not in PRESETS and preset not in shipped_weights():
        raise SubmissionError(f"reference_weights {preset!r} is not cxrbench's shipped weights (shipped: "
                              f"{', '.join(shipped_weights())}; presets: {', '.join(PRESETS)})")
    try:
        return resolve_weights(preset)
    except ConfigError as exc:
        raise SubmissionError(f"reference_weights {preset!r}: {exc}") from None


def reference_parameter_counts(preset: str) -> dict[str, int]:
    """{`cxrbench:<preset>/<file>`: tensor elements} of a shipped reference-DDPM weights folder;
    SubmissionError when cxrbench ships no such preset."""
    from cxrbench.baselines.ddpm.model import weight_files

    folder = _shipped_folder(preset)
    return {f"cxrbench:{preset}/{path.relative_to(folder).as_posix()}":
            sum(math.prod(shape) for shape in header_shapes(path).values()) for path in weight_files(folder)}


def reference_weights_digest(preset: str) -> list[tuple[str, str]]:
    """(`cxrbench:<preset>/<file>`, sha256) of the tensors and configs of a shipped weights folder a
    submission's code loads: they enter the submission's content hash, so new shipped weights never meet images
    cached from the old ones."""
    from cxrbench.data.file_digest import file_sha256

    folder = _shipped_folder(preset)
    return [(f"cxrbench:{preset}/{path.relative_to(folder).as_posix()}", file_sha256(path))
            for path in sorted(folder.rglob("*")) if path.is_file() and path.suffix in (".json", ".safetensors")
            and ".checkpoint" not in path.parts]  # tensors and configs; not the card or the loss curve


def hub_parameter_counts(snapshots: dict) -> dict[str, int]:
    """{`hf://<repo>@<commit>/<file>`: tensor elements} of the `.safetensors` files of Hub snapshots
    (`Submission.hub`): a Hub model counts like weights shipped in the folder."""
    return {f"hf://{snap.ref.repo_id}@{snap.commit[:12]}/{rel.as_posix()}":
            sum(math.prod(shape) for shape in header_shapes(snap.folder / rel).values())
            for snap in snapshots.values() for rel in snap.files() if rel.suffix == ".safetensors"}
