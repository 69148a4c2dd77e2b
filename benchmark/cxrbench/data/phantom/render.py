"""`render`: condition rows → procedural frontal chest radiographs, vectorised and deterministic.

Image i depends only on (seeds[i], conditions row i, size) (and on anatomy_seeds[i] when given):
every image draws its parameters from its own random streams, seeded by its seed, and the
batch is computed with elementwise numpy expressions, so neither batch size nor order matter.

Three streams per image: *anatomy* (habitus, heart, ribs, lung markings; seeded by the anatomy
seed so that a patient's films share one body), *findings* (severity, side, position of each of
the 14 findings; one row of draws per finding) and *acquisition* (exposure, shutters, noise).

Label rule: 1 → the finding is drawn with a severity drawn uniformly in [SEVERITY_MIN, 1];
0 and NaN → not drawn; -1 (uncertain) → with probability UNCERTAIN_DRAWN drawn at half its
severity, otherwise not drawn. `conspicuity` scales every finding's severity (1 = calibrated).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cxrbench.data.preprocess import check_size  # the one size rule (32–512) of every image
from cxrbench.errors import ConfigError, SchemaError
from cxrbench.schema import PATHOLOGIES, RACES

from .acquisition import acquire
from .anatomy import F32, MARK_ANGLES, MARK_RADII, anatomy_params, compose, grid
from .findings import apply_structural, render_findings
from .sites import SITES

CONDITION_COLUMNS: tuple[str, ...] = PATHOLOGIES + ("age", "sex", "race", "view", "site")
AGE_RANGE = (0.0, 120.0)
SEVERITY_MIN = 0.25  # the faintest positive finding, as a fraction of a full-strength one
UNCERTAIN_DRAWN = 0.5  # share of uncertain (-1) findings that are drawn (at half severity)
CHUNK_PIXELS = 1 << 18  # images are processed in chunks of about this many pixels (cache-sized)

_STREAM_ANATOMY, _STREAM_FINDINGS, _STREAM_ACQUISITION = 0x616E6174, 0x66696E64, 0x61637121


def _check_seeds(seeds, n: int, name: str) -> np.ndarray:
    arr = np.asarray(seeds)
    if arr.ndim != 1 or len(arr) != n:
        raise ConfigError(f"{name}: expected a 1-D array of {n} integer seeds (one per condition row), got shape {arr.shape}")
    if n and not np.issubdtype(arr.dtype, np.integer):
        raise ConfigError(f"{name}: seeds must be integers, got dtype {arr.dtype}")
    return arr.astype(np.int64).view(np.uint64)


def check_conditions(conditions: pd.DataFrame) -> dict[str, np.ndarray]:
    """Validate condition rows; return labels (N, 14) float32 and the demographic columns.

    Raises SchemaError naming the column, the row and the allowed values.
    """
    if not isinstance(conditions, pd.DataFrame):
        raise SchemaError(f"conditions must be a pandas DataFrame, got {type(conditions).__name__}")
    missing = [c for c in CONDITION_COLUMNS if c not in conditions.columns]
    if missing:
        raise SchemaError(f"conditions: missing column(s) {missing}; a condition row has the 14 labels + age, sex, race, view, site")

    def first_bad(mask: np.ndarray, column: str, allowed: str):
        if mask.any():
            row = int(np.argmax(mask))
            raise SchemaError(f"conditions: column {column!r} row {row} has {conditions[column].iloc[row]!r}; allowed: {allowed}")

    labels = np.empty((len(conditions), len(PATHOLOGIES)), dtype=F32)
    for j, name in enumerate(PATHOLOGIES):
        col = pd.to_numeric(conditions[name], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        not_numeric = np.isnan(col) & conditions[name].notna().to_numpy()
        first_bad(not_numeric | ~(np.isnan(col) | np.isin(col, (1.0, 0.0, -1.0))), name, "1, 0, -1 or blank (NaN)")
        labels[:, j] = col
    age = pd.to_numeric(conditions["age"], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    first_bad(~((age >= AGE_RANGE[0]) & (age <= AGE_RANGE[1])), "age", f"a number of years from {AGE_RANGE[0]:g} to {AGE_RANGE[1]:g}")
    sex = conditions["sex"].astype("object").to_numpy()
    first_bad(~np.isin(sex, ("F", "M", "U")), "sex", "F, M or U")
    race = conditions["race"].astype("object").to_numpy()
    first_bad(~np.isin(race, RACES), "race", ", ".join(RACES))
    view = conditions["view"].astype("object").to_numpy()
    first_bad(~np.isin(view, ("PA", "AP", "UNKNOWN")), "view", "PA, AP or UNKNOWN (the phantom renders frontal films only)")
    site = conditions["site"].astype("object").to_numpy()
    first_bad(~np.isin(site, list(SITES)), "site", ", ".join(SITES))
    return {"labels": labels, "age": age.astype(F32), "sex": sex, "view": view, "site": site}


def render(conditions: pd.DataFrame, seeds: np.ndarray, size: int, *, anatomy_seeds: np.ndarray | None = None,
           conspicuity: float = 1.0) -> np.ndarray:
    """Render one frontal chest radiograph per condition row: uint8 (N, size, size).

    conditions: the 14 label columns (1/0/-1/NaN) + age, sex, race, view (PA/AP/UNKNOWN), site.
    seeds: int64 (N,), one per row. anatomy_seeds: optional int64 (N,) that fixes the body
    (rows sharing one are the same patient); defaults to `seeds`. conspicuity: scales all findings.
    """
    size = check_size(size)
    cond = check_conditions(conditions)
    n = len(conditions)
    seeds_u = _check_seeds(seeds, n, "seeds")
    anat_u = seeds_u if anatomy_seeds is None else _check_seeds(anatomy_seeds, n, "anatomy_seeds")
    if not np.isfinite(conspicuity) or not 0.0 <= conspicuity <= 3.0:
        raise ConfigError(f"conspicuity must be in [0, 3], got {conspicuity!r}")
    out = np.empty((n, size, size), dtype=np.uint8)
    chunk = max(1, CHUNK_PIXELS // (size * size))
    for start in range(0, n, chunk):
        sl = slice(start, min(n, start + chunk))
        out[sl] = _render_chunk({k: v[sl] for k, v in cond.items()}, seeds_u[sl], anat_u[sl], size, conspicuity)
    return out


def attenuation(conditions: pd.DataFrame, seeds: np.ndarray, size: int, *, anatomy_seeds: np.ndarray | None = None,
                conspicuity: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """The noise-free attenuation maps and lung-marking layer (float32 (N, S, S) each) that
    `render` turns into films; for tests and figures that measure anatomy and findings directly."""
    size = check_size(size)
    cond = check_conditions(conditions)
    seeds_u = _check_seeds(seeds, len(conditions), "seeds")
    anat_u = seeds_u if anatomy_seeds is None else _check_seeds(anatomy_seeds, len(conditions), "anatomy_seeds")
    att, layers, _, _ = _attenuation_chunk(cond, seeds_u, anat_u, size, conspicuity)
    return att, layers["vessels"]


def _render_chunk(cond: dict, seeds: np.ndarray, anat_seeds: np.ndarray, size: int, conspicuity: float) -> np.ndarray:
    att, _, u_acq, noise = _attenuation_chunk(cond, seeds, anat_seeds, size, conspicuity)
    site_names = cond["site"]
    out = np.empty(att.shape, dtype=np.uint8)
    for name in np.unique(site_names):
        sel = np.nonzero(site_names == name)[0]
        out[sel] = acquire(att[sel], SITES[name], u_acq[sel], noise[sel])
    return out


def _attenuation_chunk(cond: dict, seeds: np.ndarray, anat_seeds: np.ndarray, size: int, conspicuity: float):
    n = len(seeds)
    u_anat = np.empty((n, 32), dtype=np.float64)
    tables = np.empty((n, 2, MARK_ANGLES, MARK_RADII), dtype=F32)
    u_find = np.empty((n, len(PATHOLOGIES), 10), dtype=np.float64)
    patch = np.empty((n, 3, 8, 8), dtype=F32)
    u_acq = np.empty((n, 8), dtype=np.float64)
    noise = np.empty((n, size, size), dtype=F32)
    for i in range(n):
        ra = np.random.default_rng([int(anat_seeds[i]), _STREAM_ANATOMY])
        u_anat[i] = ra.random(32)
        angular = ra.random((2, MARK_ANGLES, 1), dtype=F32)
        breaks = ra.random((2, MARK_ANGLES, MARK_RADII), dtype=F32)
        tables[i] = np.maximum(angular - 0.55, 0) * (breaks > 0.3) * (0.12 / 0.45)
        rf = np.random.default_rng([int(seeds[i]), _STREAM_FINDINGS])
        u_find[i] = rf.random((len(PATHOLOGIES), 10))
        patch[i] = rf.random((3, 8, 8), dtype=F32)
        rq = np.random.default_rng([int(seeds[i]), _STREAM_ACQUISITION])
        u_acq[i] = rq.random(8)
        noise[i] = rq.standard_normal((size, size), dtype=F32)

    sex = cond["sex"]
    female = np.where(sex == "U", u_anat[:, 31] < 0.5, sex == "F").astype(F32)
    site_names = cond["site"]
    ap_share = np.array([SITES[s].ap_fraction for s in site_names])
    view = cond["view"]
    ap = np.where(view == "UNKNOWN", u_anat[:, 30] < ap_share, view == "AP").astype(F32)

    labels = cond["labels"]
    severity = SEVERITY_MIN + (1.0 - SEVERITY_MIN) * u_find[:, :, 0]
    strength = np.where(labels == 1, severity, 0.0)
    strength = np.where((labels == -1) & (u_find[:, :, 1] < UNCERTAIN_DRAWN), 0.5 * severity, strength)
    strength = (strength * conspicuity).astype(F32)
    u_shape = u_find[:, :, 2:]

    g = grid(size)
    p = anatomy_params(u_anat, female, cond["age"], ap)
    apply_structural(p, strength, u_shape, ap)
    att, layers = compose(g, p, tables)
    render_findings(att, layers, g, p, strength, u_shape, patch)
    att += layers["vessels"] * p.marking_gain
    return att, layers, u_acq, noise
