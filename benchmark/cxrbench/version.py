"""cxrbench: does synthetic chest X-ray data make pathology classifiers better and more general?

The installed distribution's version: pyproject.toml states it once, and cache keys and records
carry it.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("cxrbench")
except PackageNotFoundError:  # a plain checkout on sys.path, not installed: no release to name
    __version__ = "0+unknown"
