"""Results as frozen dataclasses: `Record.to_dict()` gives plain, JSON-safe types."""

from __future__ import annotations

import math
from dataclasses import fields
from typing import Any

import numpy as np


class Record:
    """Mixin for result dataclasses: `to_dict()` of every field except those with compare=False
    (bulky arrays such as bootstrap replicates), plus the properties named in `_exported`."""

    _exported: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.compare}  # type: ignore[arg-type]  # a dataclass mixin
        out.update({name: getattr(self, name) for name in self._exported})
        return {name: jsonable(value) for name, value in out.items()}


def jsonable(value: Any) -> Any:
    """Plain JSON types: NaN/inf become None (the result's `reason` field says why)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return [jsonable(v) for v in value.tolist()]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else None
    if isinstance(value, np.bool_):
        return bool(value)
    if hasattr(value, "to_dict"):
        return value.to_dict()
    return value
