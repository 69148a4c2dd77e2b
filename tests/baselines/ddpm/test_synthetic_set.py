"""The synthetic set is marked complete only when whole, resumes after a kill, refuses a mixed plan."""

import json

import numpy as np
import pytest

from cxrbench.baselines.ddpm.synthetic_set import MANIFEST, read_synthetic_set, write_synthetic_set
from cxrbench.errors import ConfigError, DataError

from .ddpm_helpers import condition_table


def fake_generate(conditions, seeds, size):
    # deterministic per seed, like the real generator
    return np.stack([np.random.default_rng(int(s)).integers(0, 256, (size, size), dtype=np.uint8) for s in seeds])


class Killed(Exception):
    pass


def test_killed_run_is_not_complete_and_resumes(tmp_path):
    table = condition_table(10)
    seeds = np.arange(500, 510, dtype=np.int64)
    calls = []

    def dies_on_third_shard(conditions, seeds, size):
        calls.append(len(seeds))
        if len(calls) == 3:
            raise Killed
        return fake_generate(conditions, seeds, size)

    with pytest.raises(Killed):
        write_synthetic_set(tmp_path, table, seeds, 8, dies_on_third_shard, "fake", shard_size=3)
    assert not (tmp_path / MANIFEST).exists()
    with pytest.raises(DataError, match="incomplete"):
        read_synthetic_set(tmp_path)
    calls.clear()
    write_synthetic_set(tmp_path, table, seeds, 8, _counting(calls), "fake", shard_size=3)
    assert calls == [3, 1]  # only the two missing shards were generated
    images, frame = read_synthetic_set(tmp_path)
    assert images.shape == (10, 8, 8) and images.dtype == np.uint8
    np.testing.assert_array_equal(images, fake_generate(table, seeds, 8))
    np.testing.assert_array_equal(frame["seed"], seeds)
    np.testing.assert_array_equal(frame["index"], np.arange(10))
    assert frame["sex"].tolist() == table["sex"].tolist()
    np.testing.assert_array_equal(frame["Edema"].to_numpy(), table["Edema"].to_numpy())
    assert json.loads((tmp_path / MANIFEST).read_text())["complete"] is True


def _counting(calls):
    def generate(conditions, seeds, size):
        calls.append(len(seeds))
        return fake_generate(conditions, seeds, size)
    return generate


def test_another_plan_in_the_same_folder_is_refused(tmp_path):
    table = condition_table(4)
    write_synthetic_set(tmp_path, table, np.arange(4), 8, fake_generate, "fake")
    with pytest.raises(ConfigError, match="different synthetic set"):
        write_synthetic_set(tmp_path, table, np.arange(1, 5), 8, fake_generate, "fake")
    with pytest.raises(ConfigError, match="different synthetic set"):
        write_synthetic_set(tmp_path, table, np.arange(4), 8, fake_generate, "other-generator")


def test_tampered_shard_and_bad_generator_output_are_caught(tmp_path):
    table = condition_table(4)
    write_synthetic_set(tmp_path / "a", table, np.arange(4), 8, fake_generate, "fake")
    shard = next((tmp_path / "a" / "shards").iterdir())
    shard.write_bytes(shard.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(DataError, match="changed"):
        read_synthetic_set(tmp_path / "a")
    with pytest.raises(DataError, match="expected uint8"):
        write_synthetic_set(tmp_path / "b", table, np.arange(4), 8,
                            lambda c, s, n: np.zeros((len(s), n, n), np.float32), "fake")
    assert not (tmp_path / "b" / MANIFEST).exists()
