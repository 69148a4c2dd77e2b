"""The embedded default dataset: a procedural chest X-ray phantom.

- `render(conditions, seeds, size)` → uint8 (N, size, size) frontal radiographs;
- `SITES`: `site-a` (internal), `site-b`, `site-c` (external), each with its own look and mix;
- `PhantomSource(site, n_patients, seed)`: a `Source` of phantom patients and their films;
- `sample_conditions(n, site, seed)`: condition rows drawn from the CheXpert-derived figures.
"""

from .population import chexpert_stats, sample_conditions, sample_patients
from .render import CONDITION_COLUMNS, render
from .sites import SITES, Site, get_site
from .source import PhantomSource

__all__ = ["CONDITION_COLUMNS", "SITES", "PhantomSource", "Site", "chexpert_stats", "get_site", "render",
           "sample_conditions", "sample_patients"]
