"""Task specs (YAML) and split fingerprints (JSON), shipped with the package as data."""

from importlib import resources
from pathlib import Path


def tasks_dir() -> Path:
    """The folder holding the shipped task YAML files."""
    return Path(str(resources.files(__name__)))


def fingerprints_dir() -> Path:
    """The folder holding the committed split fingerprints."""
    return tasks_dir() / "fingerprints"
