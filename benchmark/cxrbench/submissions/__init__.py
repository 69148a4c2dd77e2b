"""Submissions: the manifest (`manifest.py`) and the sandbox their code runs in (`sandbox.py`, `worker.py`)."""

from cxrbench.submissions.manifest import MANIFEST, Manifest, Submission, load_submission
from cxrbench.submissions.sandbox import Limits, run_worker

__all__ = ["MANIFEST", "Limits", "Manifest", "Submission", "load_submission", "run_worker"]
