"""`audit(...)`: every audit metric of one synthetic set, in one typed, JSON-ready report.

Data in, data out: arrays and tables go in, an `AuditReport` comes out. The runner owns where the
images come from and where the report and gallery go.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

from cxrbench.audit.adherence import FindingAUROC, auroc_per_finding, macro
from cxrbench.audit.diversity import duplicate_rate, spread_ratio
from cxrbench.audit.features import FeatureCache, FeatureExtractor, PixelExtractor, check_images
from cxrbench.audit.fidelity import frechet_distance, precision_recall_coverage
from cxrbench.audit.leakage import SpaceLeakage, leakage_in_space, registered_leakage
from cxrbench.audit.memorization import SpaceMemorization, calibrate, memorization_in_space, save_gallery
from cxrbench.errors import DataError
from cxrbench.schema import PATHOLOGIES

# 2: galleries named by file name, not by an absolute path; 3: the feature space's identity (`space`);
# 4: leakage also by the registered pixel distance (shifted, mirrored, noisy copies of test films);
# 5: that distance's threshold calibrated on training films against the test films themselves
AUDIT_VERSION = "5"


@dataclass
class RealImages:
    """Real images with their patients and labels (a DataFrame with the 14 label columns)."""

    images: np.ndarray
    patient_ids: np.ndarray
    labels: pd.DataFrame

    @classmethod
    def from_labeled(cls, labeled) -> "RealImages":
        """From a classifier `LabeledImages` (images, labels (N, L), label_names, patient_ids)."""
        if getattr(labeled, "patient_ids", None) is None:
            raise DataError("real training images need patient ids for the memorization calibration")
        labels = pd.DataFrame(np.asarray(labeled.labels, dtype=np.float32), columns=list(labeled.label_names))
        return cls(images=labeled.images, patient_ids=np.asarray(labeled.patient_ids), labels=labels)


class AuditConfig(BaseModel):
    """Knobs of the audit; their values are recorded in every report."""

    pixel_side: int = 32  # pixel space: images area-averaged to this side
    k: int = Field(3, ge=1)  # k of k-NN precision / recall
    max_manifold_samples: int = 10_000  # per side, for precision / recall
    min_per_finding: int = Field(50, ge=4)  # fewer images with a finding → its conditional metrics are None
    close_quantile: float = Field(0.01, gt=0, lt=1)
    duplicate_quantile: float = Field(0.001, gt=0, lt=1)
    duplicate_factor: float = Field(0.5, gt=0)
    # flag memorization when the share nearer than the close threshold exceeds this (5x close_quantile:
    # the phantom oracle sits at ~1%; a conditional generator may sit a little above close_quantile,
    # since each image has a training image with exactly its findings)
    memorization_tolerance: float = Field(0.05, ge=0, le=1)
    # ... or when the share of near-duplicates of training images exceeds this
    near_duplicate_tolerance: float = Field(0.01, ge=0, le=1)
    leakage_tolerance: int = Field(0, ge=0)  # flag when more near-duplicates of test images than this
    leakage_max_shift_px: int = Field(4, ge=1)  # registered leakage: test films moved up to this far are found
    max_registered_queries: int = 2000  # real training films whose registered nearest test film calibrates it
    # fewer real training films than this (a `--limit` smoke run): the registered threshold, a 0.1 %
    # quantile of their distances to the test films, would be their minimum, inflated; the check is not run
    min_registered_films: int = Field(200, ge=2)
    max_duplicate_queries: int = 10_000
    max_calibration_queries: int = 20_000  # real images whose other-patient neighbour calibrates the thresholds
    n_closest: int = 16
    seed: int = 0


class FindingFidelity(BaseModel):
    n_synthetic: int
    n_real: int
    frechet_distance: float | None
    precision: float | None
    recall: float | None
    coverage: float | None
    spread_ratio: float | None


class Fidelity(BaseModel):
    space: str
    frechet_distance: float
    precision: float
    recall: float
    coverage: float
    per_finding: dict[str, FindingFidelity]


class Adherence(BaseModel):
    classifier_labels: list[str]
    macro_auroc: float | None
    per_finding: dict[str, FindingAUROC]
    truth_macro_auroc: float | None = None  # against the rendered truth (phantom only)
    truth_per_finding: dict[str, FindingAUROC] | None = None


class Diversity(BaseModel):
    spread_ratio: float | None  # synthetic / real feature spread, all images
    per_finding_spread_ratio: dict[str, float | None]
    duplicate_rate: dict[str, float]  # per space
    n_duplicate_checked: int


class Memorization(BaseModel):
    flag: bool
    tolerance: float
    near_duplicate_tolerance: float
    spaces: list[SpaceMemorization]
    gallery: str | None = None  # PNG file name inside the audit's gallery folder (never an absolute path)


class Leakage(BaseModel):
    flag: bool
    tolerance: int
    spaces: list[SpaceLeakage]
    gallery: str | None = None


class AuditReport(BaseModel):
    """Fidelity, adherence, diversity, memorization and leakage of one synthetic image set."""

    audit_version: str = AUDIT_VERSION
    feature_space: str  # "name@version" of the extractor
    #: the space's name, version and weights sha256 (`cxrbench.audit.spaces`): figures such as the
    #: Fréchet distance belong to one space and are never compared across spaces
    space: dict[str, Any] | None = None
    pixel_space: str
    image_size: int
    n_synthetic: int
    n_real_train: int
    n_real_test: int
    n_train_patients: int
    config: AuditConfig
    leakage_flag: bool
    memorization_flag: bool
    fidelity: Fidelity
    adherence: Adherence | None
    diversity: Diversity
    memorization: Memorization
    leakage: Leakage
    seconds: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (for the ResultRecord's `audit` field)."""
        return self.model_dump(mode="json")

    def headline(self) -> dict[str, float | int | bool | None]:
        """The few numbers a leaderboard row shows (worst case over spaces for the privacy ones)."""
        return {
            "frechet_distance": self.fidelity.frechet_distance,
            "precision": self.fidelity.precision,
            "recall": self.fidelity.recall,
            "coverage": self.fidelity.coverage,
            "adherence_macro_auroc": self.adherence.macro_auroc if self.adherence else None,
            "spread_ratio": self.diversity.spread_ratio,
            "duplicate_rate": max(self.diversity.duplicate_rate.values()),
            "memorization_share_close": max(s.share_close for s in self.memorization.spaces),
            "memorization_flag": self.memorization_flag,
            "leakage_near_duplicates": max(s.n_near_duplicate for s in self.leakage.spaces),
            "leakage_flag": self.leakage_flag,
        }


def _label_matrix(table: pd.DataFrame, what: str, n: int) -> np.ndarray:
    if not isinstance(table, pd.DataFrame):
        raise DataError(f"{what}: expected a DataFrame with the 14 label columns, got {type(table).__name__}")
    if len(table) != n:
        raise DataError(f"{what}: {len(table)} label rows for {n} images")
    missing = [p for p in PATHOLOGIES if p not in table.columns]
    if missing:
        raise DataError(f"{what}: missing label column(s): {', '.join(missing)}")
    values = table[list(PATHOLOGIES)].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float32)
    bad = ~(np.isnan(values) | np.isin(values, (1.0, 0.0, -1.0)))
    if bad.any():
        row, col = map(int, np.argwhere(bad)[0])
        raise DataError(f"{what}: column {PATHOLOGIES[col]!r} row {row} has {values[row, col]:g}; allowed 1, 0, -1 or blank")
    return values


def _finite(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def audit(
    synthetic_images: np.ndarray,
    synthetic_conditions: pd.DataFrame,
    real_train: RealImages,
    real_test_images: np.ndarray,
    extractor: FeatureExtractor,
    classifier=None,
    *,
    truth_labels: np.ndarray | pd.DataFrame | None = None,
    config: AuditConfig | None = None,
    cache: FeatureCache | None = None,
    gallery_dir: str | Path | None = None,
    device=None,
    space_info: dict[str, Any] | None = None,
) -> AuditReport:
    """Audit one synthetic image set against the real training and test images of its task.

    `synthetic_conditions` are the condition rows the images were generated from (14 label
    columns); `real_train` the task's real training split; `real_test_images` every image the
    task scores on (leakage). `extractor` is the feature space for fidelity, diversity and
    memorization (the reference extractor in a real run); pixel space is always measured too.
    `classifier` (with `predict` and `label_names`) gives condition adherence; `truth_labels`
    (N, 14) the rendered truth on the phantom. With `gallery_dir`, PNGs of the closest
    synthetic/train and synthetic/test pairs are written there. `space_info` (the space's name,
    version, weights sha256) is copied into the report.
    """
    config = config or AuditConfig()
    cache = cache or FeatureCache()
    seconds: dict[str, float] = {}
    tick = time.perf_counter()
    syn_labels, real_labels, truth = _check_inputs(synthetic_images, synthetic_conditions, real_train,
                                                   real_test_images, truth_labels, config)
    patient_ids = np.asarray(real_train.patient_ids)

    # features: once per (extractor, image set); the pixel space is always measured too
    pixel = PixelExtractor(config.pixel_side)
    spaces = {}
    for space_extractor in (extractor, pixel):
        spaces[f"{space_extractor.name}@{space_extractor.version}"] = {
            "synthetic": cache.get(space_extractor, synthetic_images, "synthetic images"),
            "train": cache.get(space_extractor, real_train.images, "real training images"),
            "test": cache.get(space_extractor, real_test_images, "real test images"),
        }
    feature_space = f"{extractor.name}@{extractor.version}"
    pixel_space = f"{pixel.name}@{pixel.version}"  # the same key when the extractor is the pixel space
    seconds["features"] = time.perf_counter() - tick

    tick = time.perf_counter()
    fidelity = _fidelity(spaces[feature_space], feature_space, syn_labels, real_labels, config, device)
    seconds["fidelity"] = time.perf_counter() - tick

    tick = time.perf_counter()
    adherence = None if classifier is None else _adherence(classifier, synthetic_images, syn_labels, truth)
    seconds["adherence"] = time.perf_counter() - tick

    tick = time.perf_counter()
    memorization, leakage, dup_rates, n_checked = _privacy(spaces, patient_ids, config, device)
    seconds["memorization_leakage"] = time.perf_counter() - tick
    tick = time.perf_counter()
    if real_train.images.shape[0] >= config.min_registered_films:
        registered = registered_leakage(
            synthetic_images, real_train.images, real_test_images,
            duplicate_quantile=config.duplicate_quantile, duplicate_factor=config.duplicate_factor,
            max_queries=config.max_registered_queries, max_shift_px=config.leakage_max_shift_px, seed=config.seed,
            n_closest=config.n_closest, device=device)
        leakage.spaces.append(registered)
        leakage.flag = leakage.flag or registered.n_near_duplicate > config.leakage_tolerance
        seconds["registered_leakage"] = time.perf_counter() - tick
    if gallery_dir is not None:
        pix = list(spaces).index(pixel_space)
        memorization.gallery = save_gallery(
            Path(gallery_dir) / "memorization.png", synthetic_images, real_train.images,
            memorization.spaces[pix].closest, title=f"closest synthetic / training pairs ({pixel_space})").name
        leakage.gallery = save_gallery(
            Path(gallery_dir) / "leakage.png", synthetic_images, real_test_images, leakage.spaces[pix].closest,
            title=f"closest synthetic / test pairs ({pixel_space})", real_label="test").name

    feats = spaces[feature_space]
    diversity = Diversity(
        spread_ratio=_finite(spread_ratio(feats["synthetic"], feats["train"])),
        per_finding_spread_ratio={k: v.spread_ratio for k, v in fidelity.per_finding.items()},
        duplicate_rate=dup_rates, n_duplicate_checked=n_checked,
    )
    return AuditReport(
        feature_space=feature_space, space=space_info, pixel_space=pixel_space, image_size=int(synthetic_images.shape[1]),
        n_synthetic=int(synthetic_images.shape[0]), n_real_train=int(real_train.images.shape[0]),
        n_real_test=int(real_test_images.shape[0]), n_train_patients=int(np.unique(patient_ids.astype(str)).size),
        config=config, leakage_flag=leakage.flag, memorization_flag=memorization.flag, fidelity=fidelity,
        adherence=adherence, diversity=diversity, memorization=memorization, leakage=leakage, seconds=seconds,
    )


def _check_inputs(synthetic_images, synthetic_conditions, real_train, real_test_images, truth_labels, config):
    """Validate every input (DataError naming the set at fault); return the label matrices."""
    check_images(synthetic_images, "synthetic images")
    size = synthetic_images.shape[1]
    check_images(real_train.images, "real training images", size=size)
    check_images(real_test_images, "real test images", size=size)
    for what, images in (("synthetic images", synthetic_images), ("real training images", real_train.images)):
        if images.shape[0] <= config.k:
            raise DataError(f"{what}: {images.shape[0]} image(s); the audit needs more than k={config.k} "
                            "(k-NN precision / recall)")
    syn_labels = _label_matrix(synthetic_conditions, "synthetic conditions", synthetic_images.shape[0])
    real_labels = _label_matrix(real_train.labels, "real training labels", real_train.images.shape[0])
    patient_ids = np.asarray(real_train.patient_ids)
    if patient_ids.shape != (real_train.images.shape[0],):
        raise DataError(f"real training images: {patient_ids.size} patient ids for {real_train.images.shape[0]} images")
    if pd.isna(patient_ids).any():
        raise DataError("real training images: a patient id is missing")
    truth = None
    if truth_labels is not None:
        truth = (_label_matrix(truth_labels, "truth labels", synthetic_images.shape[0])
                 if isinstance(truth_labels, pd.DataFrame) else np.asarray(truth_labels, dtype=np.float32))
        if truth.shape != syn_labels.shape:
            raise DataError(f"truth labels: shape {truth.shape}, expected {syn_labels.shape}")
    return syn_labels, real_labels, truth


def _fidelity(feats, space, syn_labels, real_labels, config, device) -> Fidelity:
    """Fréchet distance and k-NN precision / recall / coverage, overall and per finding."""
    def measure(f_real, f_syn):
        p, r, c = precision_recall_coverage(f_real, f_syn, config.k, max_samples=config.max_manifold_samples,
                                            seed=config.seed, device=device)
        return frechet_distance(f_real, f_syn), p, r, c

    fd, precision, recall, coverage = measure(feats["train"], feats["synthetic"])
    per_finding: dict[str, FindingFidelity] = {}
    for j, name in enumerate(PATHOLOGIES):
        syn_rows, real_rows = syn_labels[:, j] == 1, real_labels[:, j] == 1
        n_syn, n_real = int(syn_rows.sum()), int(real_rows.sum())
        if min(n_syn, n_real) < config.min_per_finding:
            per_finding[name] = FindingFidelity(n_synthetic=n_syn, n_real=n_real, frechet_distance=None,
                                                precision=None, recall=None, coverage=None, spread_ratio=None)
            continue
        f_syn, f_real = feats["synthetic"][syn_rows], feats["train"][real_rows]
        f, p, r, c = measure(f_real, f_syn)
        per_finding[name] = FindingFidelity(n_synthetic=n_syn, n_real=n_real, frechet_distance=f, precision=p,
                                            recall=r, coverage=c, spread_ratio=_finite(spread_ratio(f_syn, f_real)))
    return Fidelity(space=space, frechet_distance=fd, precision=precision, recall=recall, coverage=coverage,
                    per_finding=per_finding)


def _adherence(classifier, synthetic_images, syn_labels, truth) -> Adherence:
    """Classifier AUROC per finding against the conditions (and the rendered truth, when given)."""
    names = [n for n in classifier.label_names if n in PATHOLOGIES]
    cols = [PATHOLOGIES.index(n) for n in names]
    probs = np.asarray(classifier.predict(synthetic_images), dtype=np.float32)
    probs = probs[:, [list(classifier.label_names).index(n) for n in names]]
    per = auroc_per_finding(probs, syn_labels[:, cols], names)
    adherence = Adherence(classifier_labels=names, macro_auroc=macro(per), per_finding=per)
    if truth is not None:
        per_truth = auroc_per_finding(probs, truth[:, cols], names)
        adherence.truth_per_finding, adherence.truth_macro_auroc = per_truth, macro(per_truth)
    return adherence


def _privacy(spaces, patient_ids, config, device) -> tuple[Memorization, Leakage, dict[str, float], int]:
    """Per space: calibrate on real pairs, then memorization, leakage and synthetic duplicates."""
    mem_spaces, leak_spaces, dup_rates, n_checked = [], [], {}, 0
    for space, f in spaces.items():
        cal, _ = calibrate(f["train"], patient_ids, space, close_quantile=config.close_quantile,
                           duplicate_quantile=config.duplicate_quantile, duplicate_factor=config.duplicate_factor,
                           max_queries=config.max_calibration_queries, seed=config.seed, device=device)
        mem, _, _ = memorization_in_space(f["synthetic"], f["train"], cal, n_closest=config.n_closest, device=device)
        mem_spaces.append(mem)
        leak_spaces.append(leakage_in_space(f["synthetic"], f["test"], cal, n_closest=config.n_closest, device=device))
        dup_rates[space], n_checked = duplicate_rate(f["synthetic"], cal.near_duplicate_threshold,
                                                     max_queries=config.max_duplicate_queries,
                                                     seed=config.seed, device=device)
    memorization = Memorization(
        flag=any(m.share_close > config.memorization_tolerance
                 or m.share_near_duplicate > config.near_duplicate_tolerance for m in mem_spaces),
        tolerance=config.memorization_tolerance, near_duplicate_tolerance=config.near_duplicate_tolerance,
        spaces=mem_spaces)
    leakage = Leakage(flag=any(s.n_near_duplicate > config.leakage_tolerance for s in leak_spaces),
                      tolerance=config.leakage_tolerance, spaces=leak_spaces)
    return memorization, leakage, dup_rates, n_checked
