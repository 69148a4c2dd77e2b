"""Dataset sources and their registry: `get_source(name, root=None, **options)`."""

from __future__ import annotations

import importlib

from cxrbench.data.sources.base import Source
from cxrbench.errors import ConfigError

#: name → ("module:Class", what it reads). Imported lazily so that, e.g., the phantom loads
#: without pandas readers for MIMIC and a real source loads without the phantom renderer.
SOURCES: dict[str, tuple[str, str]] = {
    "phantom": ("cxrbench.data.phantom:PhantomSource", "procedural CXR phantom, no files needed (site-a/b/c)"),
    "chexpert": ("cxrbench.data.sources.chexpert:CheXpertSource", "CheXpert train.csv/valid.csv (full or -small layout)"),
    "mimic": ("cxrbench.data.sources.mimic:MIMICSource", "MIMIC-CXR-JPG metadata + labels + split (+ MIMIC-IV)"),
    "nih": ("cxrbench.data.sources.nih:NIHSource", "NIH ChestX-ray14 Data_Entry_2017 CSV + official lists (public)"),
    "csv": ("cxrbench.data.sources.csv_source:CSVSource", "any hospital CSV through a column-mapping YAML"),
}


def source_class(name: str) -> type[Source]:
    """The class registered under `name` (imported on first use)."""
    try:
        target, _ = SOURCES[name]
    except KeyError:
        raise ConfigError(f"unknown source {name!r}; known: {', '.join(SOURCES)}") from None
    module, cls = target.split(":")
    try:
        return getattr(importlib.import_module(module), cls)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"source {name!r} is not available in this install ({exc})") from None


def get_source(name: str, root=None, **options) -> Source:
    """Build a source by name.

    `phantom` takes no root (options: site, n_patients, seed); `chexpert`, `mimic` and `nih` take the
    dataset folder; `csv` takes the CSV file as root and `mapping=` the mapping YAML.
    """
    cls = source_class(name)
    if name == "phantom":
        return cls(**options)
    if name == "csv":
        return cls(root, options.pop("mapping", None), **options)
    return cls(root, **options)


__all__ = ["SOURCES", "Source", "get_source", "source_class"]
