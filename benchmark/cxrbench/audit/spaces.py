"""The audit's feature spaces by name: `phantom` (the shipped reference classifier's space, the
phantom's default), `rad-dino` (CheXGenBench's) and `xrv-densenet` (torchxrayvision's).

A space gives an extractor (fidelity, diversity, memorization, leakage) and, where it has one, a
classifier for condition adherence. Its identity (name, version, sha256 of its weights) keys the
audit's cache and goes into every report: Fréchet distances and k-NN figures are properties of a
space and are never compared across spaces.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cxrbench.errors import ConfigError

SPACES = ("phantom", "rad-dino", "xrv-densenet")
#: the space a profile's audit uses when none is named (profiles without one skip the audit)
DEFAULT_SPACE = {"phantom": "phantom"}


@dataclass
class FeatureSpace:
    extractor: object  # a FeatureExtractor
    classifier: object | None  # `predict` + `label_names`, for adherence; None: no adherence
    info: dict  # name, version, weights_sha256, model, ...


def space_for(profile: str, features: str | None) -> str:
    """The space an audit of `profile` runs in; ConfigError naming the choices when there is none."""
    name = features or DEFAULT_SPACE.get(profile)
    if name is None:
        raise ConfigError(f"no default audit feature space for profile {profile!r}: pass --features "
                          f"{' or '.join(s for s in SPACES if s != 'phantom')} (docs/audit.md)")
    if name not in SPACES:
        raise ConfigError(f"unknown feature space {name!r}; choose one of {', '.join(SPACES)}")
    if name == "phantom" and profile != "phantom":
        raise ConfigError(f"the phantom feature space knows only phantom films; audit {profile!r} data with "
                          f"--features rad-dino or xrv-densenet")
    return name


def load_space(name: str, *, weights: str | Path | None = None, device: str = "cpu",
               profile: str = "phantom") -> FeatureSpace:
    """The extractor and adherence classifier of space `name` (weights: a folder, or a hub id for rad-dino)."""
    if name == "phantom":
        from cxrbench.audit.reference import provenance, reference_classifier, reference_extractor

        classifier = reference_classifier("phantom", device)
        extractor = reference_extractor("phantom", device, classifier=classifier)
        info = {"name": extractor.name, "version": extractor.version,
                "weights_sha256": provenance("phantom")["weights_sha256"], "model": "cxrbench reference classifier"}
        return FeatureSpace(extractor, classifier, info)
    if name == "rad-dino":
        try:
            import transformers  # noqa: F401

            from cxrbench.audit.rad_dino import RadDinoExtractor
        except ImportError:
            raise ConfigError("feature space 'rad-dino' needs transformers: pip install 'cxrbench[rad-dino]'") from None
        extractor = RadDinoExtractor(weights, device=device)
        # RAD-DINO has no pathology head: on the phantom, adherence keeps the phantom's classifier
        classifier = _phantom_classifier(device) if profile == "phantom" else None
        return FeatureSpace(extractor, classifier, extractor.info())
    if name == "xrv-densenet":
        from cxrbench.audit.xrv_densenet import XrvDenseNetExtractor

        extractor = XrvDenseNetExtractor(weights, device=device)
        return FeatureSpace(extractor, extractor, extractor.info())
    raise ConfigError(f"unknown feature space {name!r}; choose one of {', '.join(SPACES)}")


def _phantom_classifier(device: str):
    from cxrbench.audit.reference import reference_classifier

    return reference_classifier("phantom", device)


def space_identity(name: str, weights: str | Path | None = None) -> dict:
    """What keys an audit's cache entry for space `name`, read without loading the model."""
    if name == "phantom":
        from cxrbench.audit.reference import provenance

        return {"name": name, "weights_sha256": provenance("phantom")["weights_sha256"]}
    from cxrbench.audit.weights_folder import safetensors_digest

    if name == "rad-dino":
        from cxrbench.audit.rad_dino import resolve_folder

        folder = resolve_folder(weights)
    else:
        from cxrbench.audit.weights_folder import default_dir, missing_weights
        from cxrbench.audit.xrv_densenet import CONFIG, EXTRA, NAME

        folder = Path(weights).expanduser() if weights else default_dir(NAME)
        if not (folder / CONFIG).is_file():
            raise missing_weights(NAME, folder, EXTRA)
    return {"name": name, "weights_sha256": safetensors_digest(folder, name)}
