"""What a submission ships as weights, read from safetensors headers only (no tensor is loaded).

The parameter count a record carries is computed here by cxrbench from the files themselves,
never taken from the manifest: every `.safetensors` file in the submission folder (a diffusers
pipeline's components, a timm checkpoint, declared `weights`) counts once.
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
