"""Labelled image sets for the classifier and the checks on what may enter training.

A `LabeledImages` is pixels + raw labels + ids, aligned row for row. Synthetic sets carry
`condition_ids`: the image id of the real training row that conditioned each image, which is
how the replica scheme (N% supplementation = N/100 synthetic images per real row) is checked.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from cxrbench.errors import DataError
from cxrbench.schema import apply_uncertainty


@dataclass(frozen=True)
class LabeledImages:
    """uint8 pixels (N, S, S) (array or memmap), raw labels float32 (N, L) in 1/0/-1/NaN.

    `label_names` orders the label columns; `condition_ids` (synthetic sets only) names the real
    row each image was generated for.
    """

    images: np.ndarray
    labels: np.ndarray
    image_ids: np.ndarray
    label_names: tuple[str, ...]
    patient_ids: np.ndarray | None = None
    condition_ids: np.ndarray | None = None

    def __post_init__(self) -> None:
        images, labels = self.images, np.asarray(self.labels, dtype=np.float32)
        object.__setattr__(self, "labels", labels)
        object.__setattr__(self, "image_ids", np.asarray(self.image_ids).astype(str))
        object.__setattr__(self, "label_names", tuple(self.label_names))
        if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1] != images.shape[2]:
            raise DataError(f"images must be uint8 (N, S, S); got {images.dtype} {tuple(images.shape)}")
        n = images.shape[0]
        if labels.shape != (n, len(self.label_names)):
            raise DataError(
                f"labels must be (N, L) = ({n}, {len(self.label_names)}) to match images and "
                f"label_names; got {labels.shape}"
            )
        if len(self.image_ids) != n:
            raise DataError(f"{len(self.image_ids)} image_ids for {n} images")
        bad = ~(np.isnan(labels) | np.isin(labels, (1.0, 0.0, -1.0)))
        if bad.any():
            row, col = map(int, np.argwhere(bad)[0])
            raise DataError(
                f"label {self.label_names[col]!r} of image {self.image_ids[row]} is {labels[row, col]:g}; "
                "allowed: 1, 0, -1 or NaN"
            )
        for name in ("patient_ids", "condition_ids"):
            value = getattr(self, name)
            if value is not None:
                value = np.asarray(value).astype(str)
                object.__setattr__(self, name, value)
                if len(value) != n:
                    raise DataError(f"{len(value)} {name} for {n} images")

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def size(self) -> int:
        return int(self.images.shape[1])


def training_targets(labels: np.ndarray, uncertainty_policy: str, unmentioned: str) -> np.ndarray:
    """Raw labels -> BCE targets; NaN where a label is masked out of the loss.

    -1 follows the task's uncertainty policy; NaN (not mentioned) becomes 0 under
    `unmentioned="negative"` (CheXpert's training convention) or stays NaN (masked) under "mask".
    """
    targets = apply_uncertainty(labels, uncertainty_policy)
    if unmentioned == "negative":
        targets = np.where(np.isnan(labels), 0.0, targets).astype(np.float32)
    return targets


def check_label_names(parts: Iterable[LabeledImages], expected: tuple[str, ...], what: str) -> None:
    """Every part must use exactly `expected` labels in the same order."""
    for i, part in enumerate(parts):
        if part.label_names != tuple(expected):
            missing = [n for n in expected if n not in part.label_names]
            extra = [n for n in part.label_names if n not in expected]
            detail = (f"missing {missing}" if missing else "") + (f" extra {extra}" if extra else "")
            raise DataError(
                f"{what} part {i}: label set does not match the task's "
                f"({detail.strip() or 'same labels, different order'}); expected {list(expected)}"
            )


def check_forbidden(parts: Iterable[LabeledImages], forbidden_ids, what: str) -> None:
    """Raise if any image id or condition id of `parts` is a forbidden (test) image id."""
    if forbidden_ids is None:
        return
    forbidden = np.asarray(list(forbidden_ids)).astype(str)
    for part in parts:
        for kind, ids in (("image", part.image_ids), ("condition", part.condition_ids)):
            if ids is None:
                continue
            hit = np.isin(ids, forbidden)
            if hit.any():
                raise DataError(
                    f"{what}: {int(hit.sum())} {kind} id(s) are test images and may not enter "
                    f"training (e.g. {ids[hit][:3].tolist()})"
                )


def check_trainable(targets: np.ndarray, label_names: tuple[str, ...]) -> list[str]:
    """Raise on an empty set or one where no label has both classes; return the single-class labels."""
    if targets.shape[0] == 0:
        raise DataError("the training set is empty")
    constant = []
    for j, name in enumerate(label_names):
        col = targets[:, j]
        col = col[~np.isnan(col)]
        if not (np.any(col >= 0.5) and np.any(col < 0.5)):
            constant.append(name)
    if len(constant) == len(label_names):
        raise DataError(
            f"the training set has a single class for every label ({targets.shape[0]} images): "
            "nothing to learn"
        )
    return constant


def supplement(real: LabeledImages, synthetic: LabeledImages, ratio_percent: float) -> list[LabeledImages]:
    """The study's replica scheme: real rows plus ratio/100 synthetic images per real row.

    Checks that `synthetic.condition_ids` name real training rows, that each real row conditions
    floor or ceil of ratio/100 images (exactly ratio/100 when it is whole), that the total is
    round(len(real) * ratio / 100), and that each synthetic image carries its condition row's
    labels. Returns `[real, synthetic]` for `train_classifier`.
    """
    if synthetic.condition_ids is None:
        raise DataError("synthetic set has no condition_ids: cannot check it against the real rows")
    check_label_names([synthetic], real.label_names, "synthetic set")
    expected = round(len(real) * ratio_percent / 100)
    if len(synthetic) != expected:
        raise DataError(
            f"synthetic set has {len(synthetic)} images; {ratio_percent:g}% supplementation of "
            f"{len(real)} real rows needs {expected}"
        )
    position = {image_id: i for i, image_id in enumerate(real.image_ids)}
    rows = np.array([position.get(c, -1) for c in synthetic.condition_ids])
    if (rows < 0).any():
        unknown = synthetic.condition_ids[rows < 0][:3].tolist()
        raise DataError(
            f"{int((rows < 0).sum())} synthetic image(s) were conditioned on rows that are not in the "
            f"real training set (e.g. {unknown})"
        )
    per_row = np.bincount(rows, minlength=len(real))
    low, high = np.floor(ratio_percent / 100), np.ceil(ratio_percent / 100)
    if per_row.min() < low or per_row.max() > high:
        worst = int(np.argmax(np.abs(per_row - ratio_percent / 100)))
        raise DataError(
            f"replica scheme broken: real row {real.image_ids[worst]} conditions {per_row[worst]} "
            f"synthetic images; {ratio_percent:g}% needs {ratio_percent / 100:g} per row"
        )
    want, got = real.labels[rows], synthetic.labels
    same = (want == got) | (np.isnan(want) & np.isnan(got))
    if not same.all():
        i, j = map(int, np.argwhere(~same)[0])
        raise DataError(
            f"synthetic image {synthetic.image_ids[i]} has {real.label_names[j]!r} = {got[i, j]:g} but "
            f"its condition row {synthetic.condition_ids[i]} has {want[i, j]:g}"
        )
    return [real, synthetic]


def from_rows(rows, images: np.ndarray, label_names: tuple[str, ...], *,
              condition_ids=None) -> LabeledImages:
    """A `LabeledImages` from canonical rows (a DataFrame) and their pixels, aligned row for row."""
    missing = [n for n in label_names if n not in rows.columns]
    if missing:
        raise DataError(f"rows lack the task's label column(s) {missing}")
    if len(rows) != images.shape[0]:
        raise DataError(f"{len(rows)} rows but {images.shape[0]} images")
    patients = rows["patient_id"].to_numpy() if "patient_id" in rows.columns else None
    return LabeledImages(
        images=images,
        labels=rows[list(label_names)].to_numpy(dtype=np.float32),
        image_ids=rows["image_id"].to_numpy(),
        label_names=tuple(label_names),
        patient_ids=patients,
        condition_ids=condition_ids,
    )
