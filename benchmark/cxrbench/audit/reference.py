"""The shipped reference feature space: the reference classifier recipe trained on phantom site-a.

`tools/train_audit_features.py` trains it on the phantom profile's real training split and
writes it to `weights/<name>/` (model.safetensors + config.json + provenance.json). Its version
is the provenance version plus the weights' sha256 prefix, so the feature cache can never mix two
different weight files; the sha256 is checked at load time.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from cxrbench.audit.features import ClassifierFeatures
from cxrbench.errors import ConfigError, DataError

WEIGHTS_DIR = Path(__file__).parent / "weights"
#: data profile → shipped feature space
REFERENCE_SPACES = {"phantom": "phantom-site-a"}


def reference_dir(profile: str = "phantom") -> Path:
    """Folder of the shipped reference feature space for a data profile."""
    if profile not in REFERENCE_SPACES:
        raise ConfigError(
            f"no reference audit feature space is shipped for profile {profile!r} (only for: "
            f"{', '.join(REFERENCE_SPACES)}); train one on that profile's training split with the recipe in "
            "tools/train_audit_features.py and pass it as `extractor`")
    path = WEIGHTS_DIR / REFERENCE_SPACES[profile]
    if not (path / "provenance.json").is_file():
        raise DataError(f"{path}: the reference audit weights are missing (run tools/train_audit_features.py)")
    return path


def provenance(profile: str = "phantom") -> dict:
    """What the shipped weights were trained on, how well they score, and their sha256."""
    return json.loads((reference_dir(profile) / "provenance.json").read_text())


def reference_classifier(profile: str = "phantom", device: str = "cpu"):
    """The shipped reference classifier (a `TrainedClassifier`), weights verified by sha256."""
    from cxrbench.baselines.classifier import TrainedClassifier

    path = reference_dir(profile)
    expected = provenance(profile)["weights_sha256"]
    actual = hashlib.sha256((path / "model.safetensors").read_bytes()).hexdigest()
    if actual != expected:
        raise DataError(f"{path / 'model.safetensors'}: sha256 {actual[:12]}… does not match provenance.json "
                        f"({expected[:12]}…); the shipped audit weights are corrupt or were replaced")
    return TrainedClassifier.load(path, device=device)


def reference_extractor(profile: str = "phantom", device: str = "cpu", classifier=None) -> ClassifierFeatures:
    """The fixed, versioned audit feature space of a profile (256-d penultimate layer)."""
    info = provenance(profile)
    classifier = classifier if classifier is not None else reference_classifier(profile, device)
    return ClassifierFeatures(classifier, name=info["feature_space"],
                              version=f"{info['version']}+{info['weights_sha256'][:12]}")
