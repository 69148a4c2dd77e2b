"""`PhantomSource`: phantom patients of one site as a cxrbench `Source`."""

from __future__ import annotations

import hashlib
import json
import re
from functools import lru_cache

import numpy as np
import pandas as pd

from cxrbench.data.sources.base import Source
from cxrbench.errors import ConfigError, DataError
from cxrbench.schema import CANONICAL_COLUMNS, PATHOLOGIES, validate_canonical

from .population import derived_seed, sample_patients
from .render import CONDITION_COLUMNS, check_size, render
from .sites import SITES, get_site

#: Bumped whenever the pixels for a given (site, seed, image_id) change; part of the cache key.
RENDER_VERSION = 1
#: Files whose content decides the pixels and rows; their hash is part of the cache key too, so an
#: edit that forgets to bump RENDER_VERSION can never serve stale cached images.
_RENDER_FILES = ("render.py", "anatomy.py", "findings.py", "acquisition.py", "sites.py", "population.py",
                 "chexpert_stats.json")


@lru_cache(maxsize=1)
def renderer_digest() -> str:
    """sha256 (12 hex digits) over the phantom's rendering code and figures."""
    from pathlib import Path

    h = hashlib.sha256()
    for name in _RENDER_FILES:
        h.update(name.encode() + b"\0" + (Path(__file__).parent / name).read_bytes())
    return h.hexdigest()[:12]
NATIVE_SIZE = 256
_ID = re.compile(r"^phantom/(?P<site>site-[a-z])/p(?P<patient>[0-9]{6})/s(?P<study>[0-9]{2})$")


class PhantomSource(Source):
    """Procedural CXR phantom: no files needed; sites site-a (internal), site-b, site-c (external)."""

    name = "phantom"

    def __init__(self, site: str = "site-a", n_patients: int = 2000, seed: int = 0, race_mix: dict | None = None):
        self.site = get_site(site).name
        self.n_patients = n_patients
        self.seed = int(seed)
        self.race_mix = race_mix
        self._rows: pd.DataFrame | None = None
        if isinstance(n_patients, bool) or not isinstance(n_patients, (int, np.integer)) or n_patients < 1:
            raise ConfigError(f"phantom n_patients must be a positive integer, got {n_patients!r}")
        sample_patients(self.site, 0, self.seed, race_mix=race_mix)  # validates race_mix now, not at first use

    @property
    def cache_namespace(self) -> str:
        race = ""
        if self.race_mix is not None:
            race = "-race" + hashlib.sha256(json.dumps(self.race_mix, sort_keys=True).encode()).hexdigest()[:12]
        # a held-out population's seed is a secret (63 bits): folder names carry only its hash
        seed = f"seed{self.seed}" if self.seed < 2**32 else "seedh" + hashlib.sha256(str(self.seed).encode()).hexdigest()[:16]
        return f"phantom-v{RENDER_VERSION}-{renderer_digest()}-{self.site}-{seed}{race}"

    @property
    def pixel_provenance(self) -> str:
        return f"phantom-v{RENDER_VERSION}-{renderer_digest()}"

    def rows(self, frontal_only: bool = True) -> pd.DataFrame:
        """Canonical rows, one frontal film per study (the phantom renders frontal films only)."""
        if self._rows is None:
            studies = sample_patients(self.site, self.n_patients, self.seed, race_mix=self.race_mix)
            patient = "phantom/" + self.site + "/p" + studies["patient"].map("{:06d}".format)
            study = patient + "/s" + studies["study"].map("{:02d}".format)
            rows = pd.DataFrame({
                "image_id": study, "patient_id": patient, "study_id": study, "source": self.name,
                "site": self.site, "path": "phantom://" + study.str.removeprefix("phantom/"),
                "view": studies["view"], "sex": studies["sex"], "age": studies["age"], "race": studies["race"],
            })
            for name in PATHOLOGIES:
                rows[name] = studies[name].to_numpy()
            self._rows = validate_canonical(rows[list(CANONICAL_COLUMNS)], where=f"phantom {self.site}")
        return self._rows.copy()

    def seeds(self, rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """(image seeds, anatomy seeds) for rows of this source, from their image ids."""
        parsed = rows["image_id"].astype(str).str.extract(_ID)
        bad = parsed["site"].isna() | (parsed["site"] != self.site)
        if bad.any():
            image_id = rows["image_id"].iloc[int(np.argmax(bad.to_numpy()))]
            raise DataError(f"phantom {self.site}: image_id {image_id!r} is not a {self.site} phantom image "
                            f"(expected phantom/{self.site}/pNNNNNN/sNN)")
        site_no = list(SITES).index(self.site)
        patient = parsed["patient"].astype(np.int64).to_numpy()
        study = parsed["study"].astype(np.int64).to_numpy()
        return derived_seed(self.seed, site_no, patient, study), derived_seed(self.seed, site_no, patient, 0)

    def load_batch(self, rows: pd.DataFrame, size: int) -> np.ndarray:
        """Render `rows` at `size` in one vectorised call: uint8 (N, size, size)."""
        size = check_size(size)
        seeds, anatomy = self.seeds(rows)
        conditions = rows[list(CONDITION_COLUMNS)].reset_index(drop=True).copy()
        conditions["site"] = self.site
        return render(conditions, seeds, size, anatomy_seeds=anatomy)

    def load_image(self, row: pd.Series, size: int) -> np.ndarray:
        return self.load_batch(row.to_frame().T, size)[0]

    def load_pixels(self, row: pd.Series) -> np.ndarray:
        """The film at the phantom's native size (256 px)."""
        return self.load_image(row, NATIVE_SIZE)

    def describe(self) -> str:
        return f"procedural CXR phantom, {self.site} ({SITES[self.site].role}): {SITES[self.site].description}"
