"""Which cxrbench label each output of a classifier predicts: its own names, read through a label map.

A classifier may predict any subset of the 14 CheXpert labels, under their names or under its own
(torchxrayvision's `Effusion` is CheXpert's `Pleural Effusion`). A task scores it on the labels it
predicts among the task's own (`scored_labels`); the record names them.

```yaml
labels: [Atelectasis, Consolidation, Infiltration, ..., Effusion, ...]   # the outputs, in order
label_map: torchxrayvision         # a shipped map by name, or {their name: cxrbench label or null}
```

An output named like a cxrbench label (`Pleural Effusion`) predicts it; a map entry renames an
output (`Effusion: Pleural Effusion`) or drops it (`Hernia: null`). Any other name is an output
cxrbench does not score (torchxrayvision's `Hernia`), unless it is a near-miss of a cxrbench label
(`Pleural Efusion`): that is refused with the closest names, like a map that names an unknown label.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence

from cxrbench.schema import PATHOLOGIES

#: torchxrayvision's 18 outputs (`xrv.datasets.default_pathologies`), onto CheXpert's names; the seven
#: findings CheXpert does not label (Infiltration, Emphysema, ...) are not scored
TORCHXRAYVISION: dict[str, str | None] = {
    "Atelectasis": "Atelectasis", "Consolidation": "Consolidation", "Infiltration": None,
    "Pneumothorax": "Pneumothorax", "Edema": "Edema", "Emphysema": None, "Fibrosis": None,
    "Effusion": "Pleural Effusion", "Pneumonia": "Pneumonia", "Pleural_Thickening": None,
    "Cardiomegaly": "Cardiomegaly", "Nodule": None, "Mass": None, "Hernia": None, "Lung Lesion": "Lung Lesion",
    "Fracture": "Fracture", "Lung Opacity": "Lung Opacity", "Enlarged Cardiomediastinum": "Enlarged Cardiomediastinum",
}
#: label maps shipped by name (`label_map: torchxrayvision`)
LABEL_MAPS: dict[str, dict[str, str | None]] = {"torchxrayvision": TORCHXRAYVISION}
#: how close an unknown name must be to a cxrbench label to count as a misspelling of it
NEAR_MISS = 0.85

LabelMapField = dict[str, str | None] | str | None


def closest(name: str, known: Sequence[str], n: int = 3) -> str:
    """`; closest: A, B` for the known names most like `name` (empty when none is close)."""
    near = difflib.get_close_matches(name, list(known), n=n, cutoff=0.5)
    return f"; closest: {', '.join(near)}" if near else ""


def check_label_map(value: LabelMapField) -> LabelMapField:
    """A label map as a manifest field: a shipped map's name, or a mapping onto cxrbench labels
    (ValueError names an unknown map or label, with the closest known names)."""
    if value is None:
        return None
    if isinstance(value, str):
        if value not in LABEL_MAPS:
            raise ValueError(f"unknown label map {value!r}; shipped: {', '.join(LABEL_MAPS)}{closest(value, list(LABEL_MAPS))}")
        return value
    for theirs, ours in value.items():
        if ours is not None and ours not in PATHOLOGIES:
            raise ValueError(f"label_map maps {theirs!r} to {ours!r}, which is not a cxrbench label"
                             f"{closest(ours, PATHOLOGIES)} (or null: not scored)")
    return value


def output_labels(outputs: Sequence[str], label_map: LabelMapField = None) -> list[str | None]:
    """The cxrbench label each output predicts (None: not scored); ValueError on a near-miss name,
    a mapping naming no output, or two outputs predicting one label."""
    mapping: Mapping[str, str | None] = LABEL_MAPS[label_map] if isinstance(label_map, str) else (label_map or {})
    if not isinstance(label_map, str):  # a shipped map covers whatever names it knows; one's own must match
        stray = [k for k in mapping if k not in outputs]
        if stray:
            raise ValueError(f"label_map names {stray[0]!r}, which is not an output{closest(stray[0], outputs)}")
    dup = [n for n in outputs if list(outputs).count(n) > 1]
    if dup:
        raise ValueError(f"output {dup[0]!r} is listed twice")
    out: list[str | None] = []
    for name in outputs:
        if name in mapping:
            out.append(mapping[name])
        elif name in PATHOLOGIES:
            out.append(name)
        else:
            near = difflib.get_close_matches(name, PATHOLOGIES, n=3, cutoff=NEAR_MISS)
            if near:
                raise ValueError(f"output {name!r} is not a cxrbench label; closest: {', '.join(near)} (fix the name, "
                                 f"or map it in label_map)")
            out.append(None)
    seen: dict[str, str] = {}
    for name, label in zip(outputs, out):
        if label is not None and label in seen:
            raise ValueError(f"outputs {seen[label]!r} and {name!r} both predict {label!r}")
        if label is not None:
            seen[label] = name
    if not seen:
        raise ValueError(f"none of the outputs ({', '.join(outputs)}) is a cxrbench label; map them with label_map "
                         f"(cxrbench labels: {', '.join(PATHOLOGIES)})")
    return out


def scored_labels(task_labels: Sequence[str], predicted: Sequence[str | None]) -> tuple[str, ...]:
    """The task's labels a classifier predicts, in the task's order: what it is scored on."""
    have = {p for p in predicted if p is not None}
    return tuple(label for label in task_labels if label in have)
