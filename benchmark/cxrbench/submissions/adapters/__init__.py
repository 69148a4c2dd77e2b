"""Built-in adapters: what the sandbox worker runs for a zero-code submission (a `diffusers:` or
`timm:` block) in place of the submission's own entry point."""

from __future__ import annotations

from pathlib import Path


def read_block(submission_dir: Path, block: str):
    """The manifest of a submission (already validated by the runner) and one of its blocks."""
    from cxrbench.errors import load_yaml_model
    from cxrbench.submissions.manifest import MANIFEST, Manifest

    manifest = load_yaml_model(Path(submission_dir) / MANIFEST, Manifest, what="a mapping of fields")
    return manifest, getattr(manifest, block)
