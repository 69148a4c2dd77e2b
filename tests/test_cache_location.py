"""One cache variable, CXRBENCH_CACHE, for every cache; CXRBENCH_CACHE_DIR is its deprecated alias."""

from pathlib import Path

import pytest

from cxrbench.cache_location import default_cache_root


def test_cxrbench_cache_names_every_cache(tmp_path, monkeypatch):
    from cxrbench.data.image_store import default_root as images_root
    from cxrbench.leaderboard.loader import default_cache_dir
    from cxrbench.runner.cache import default_root as stages_root

    monkeypatch.delenv("CXRBENCH_CACHE_DIR", raising=False)
    monkeypatch.setenv("CXRBENCH_CACHE", str(tmp_path))
    assert stages_root() == tmp_path.resolve()
    assert images_root() == tmp_path / "images"
    assert default_cache_dir(tmp_path / "results").parent == tmp_path / "leaderboard"


def test_default_is_a_folder_in_the_working_directory(monkeypatch):
    monkeypatch.delenv("CXRBENCH_CACHE", raising=False)
    monkeypatch.delenv("CXRBENCH_CACHE_DIR", raising=False)
    assert default_cache_root() == Path(".cxrbench-cache")


def test_old_variable_still_works_with_a_warning(tmp_path, monkeypatch):
    monkeypatch.delenv("CXRBENCH_CACHE", raising=False)
    monkeypatch.setenv("CXRBENCH_CACHE_DIR", str(tmp_path))
    with pytest.warns(FutureWarning, match="CXRBENCH_CACHE_DIR is deprecated"):
        assert default_cache_root() == tmp_path
