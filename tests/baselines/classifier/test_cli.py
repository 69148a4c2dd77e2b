import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from cxrbench.cli import app
from cxrbench.errors import ConfigError, DataError
from cxrbench.schema import PATHOLOGIES

pytest.importorskip("cxrbench.data.phantom")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CXRBENCH_CACHE", str(tmp_path / "cache"))
    return tmp_path


def run(*args):
    return CliRunner().invoke(app, list(args), catch_exceptions=True)


def test_train_then_predict_on_the_phantom(cache):
    out = cache / "clf"
    result = run("train-classifier", "--out", str(out), "--n-patients", "120", "--set", "max_epochs=2", "--set", "epoch_images=null",
                 "--threads", "1", "--no-progress")
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert "best epoch" in result.output
    config = json.loads((out / "config.json").read_text())
    assert config["recipe_identity"]["name"] == "quick" and config["recipe"]["max_epochs"] == 2
    assert config["info"]["uncertainty_policy"] == "zeros"
    log = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == [0, 1]
    # A second call resumes the finished checkpoint instead of training again.
    again = run("train-classifier", "--out", str(out), "--n-patients", "120", "--set", "max_epochs=2", "--set", "epoch_images=null",
                "--threads", "1", "--no-progress")
    assert again.exit_code == 0 and len((out / "metrics.jsonl").read_text().splitlines()) == 2
    preds = cache / "b.parquet"
    result = run("predict", str(out), "--out", str(preds), "--site", "site-b", "--n-patients", "120")
    assert result.exit_code == 0, result.output + repr(result.exception)
    frame = pd.read_parquet(preds)
    assert list(frame.columns) == ["image_id", *PATHOLOGIES]
    assert frame["image_id"].str.startswith("phantom/site-b").all()


def test_bad_input_is_a_clear_error(cache):
    result = run("train-classifier", "--out", str(cache / "x"), "--recipe", "huge")
    assert isinstance(result.exception, ConfigError) and "unknown classifier recipe 'huge'" in str(result.exception)
    result = run("train-classifier", "--out", str(cache / "x"), "--set", "backbone=vgg")
    assert isinstance(result.exception, ConfigError) and "unknown backbone 'vgg'" in str(result.exception)
    result = run("train-classifier", "--out", str(cache / "x"), "--ratio", "100", "--n-patients", "60")
    assert isinstance(result.exception, ConfigError) and "need --synthetic" in str(result.exception)
    result = run("predict", str(cache / "nothing"), "--out", str(cache / "p.parquet"))
    assert isinstance(result.exception, DataError) and "not a saved classifier" in str(result.exception)


def test_supplement_from_a_synthetic_set(cache):
    import numpy as np

    from cxrbench.baselines.ddpm.synthetic_set import write_synthetic_set
    from cxrbench.data.phantom import PhantomSource, render
    from cxrbench.data.splits import split_rows

    train = split_rows(PhantomSource(n_patients=80).rows())["train"].reset_index(drop=True)
    twice = pd.concat([train, train], ignore_index=True)  # 200%: the training rows, replica after replica
    seeds = np.arange(len(twice), dtype=np.int64) + 10_000
    synthetic = cache / "syn"
    write_synthetic_set(synthetic, twice, seeds, 32, render, "phantom-oracle")
    common = ["train-classifier", "--n-patients", "80", "--set", "max_epochs=1", "--set", "epoch_images=null", "--threads", "1",
              "--no-progress", "--synthetic", str(synthetic)]
    result = run(*common, "--out", str(cache / "sup"), "--ratio", "200")
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert f"train {len(train)} + {2 * len(train)}" in result.output
    result = run(*common, "--out", str(cache / "sup3"), "--ratio", "300")
    assert isinstance(result.exception, DataError) and "needs" in str(result.exception)
    # Conditions that are not the training rows' (shuffled) are refused.
    shuffled = cache / "shuffled"
    write_synthetic_set(shuffled, twice.sample(frac=1, random_state=0), seeds, 32, render, "phantom-oracle")
    result = run(*common[:-1], str(shuffled), "--out", str(cache / "sup4"))
    assert isinstance(result.exception, DataError) and "its condition row" in str(result.exception)
