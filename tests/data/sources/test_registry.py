import pytest

from cxrbench.data.sources import SOURCES, get_source, source_class
from cxrbench.data.sources.base import Source
from cxrbench.errors import ConfigError, DataError


def test_unknown_source_lists_the_known_ones():
    with pytest.raises(ConfigError, match="unknown source 'kaggle'; known: phantom, chexpert, mimic, nih, csv"):
        get_source("kaggle")


def test_real_sources_are_sources_and_need_a_root():
    for name in ("chexpert", "mimic"):
        assert issubclass(source_class(name), Source)
        with pytest.raises(DataError, match=f"{name}: no root given"):
            get_source(name)


def test_phantom_entry_points_at_the_phantom_package():
    assert SOURCES["phantom"][0] == "cxrbench.data.phantom:PhantomSource"
    try:
        cls = source_class("phantom")
    except ConfigError as exc:  # the phantom is another area; not there yet is a clear error
        assert "source 'phantom' is not available" in str(exc)
    else:
        assert issubclass(cls, Source)
