"""`cxrbench sample` and `cxrbench train-generator` through the CLI."""

import json
import re

import numpy as np
import pytest
from typer.testing import CliRunner

from cxrbench.baselines.ddpm.model import save_pretrained
from cxrbench.baselines.ddpm.synthetic_set import read_synthetic_set
from cxrbench.cli import app
from cxrbench.errors import ConfigError, SchemaError

from .ddpm_helpers import condition_table, random_model


def test_sample_writes_a_complete_set(tmp_path):
    weights = save_pretrained(random_model(), tmp_path / "w")
    table = condition_table(5)
    table["seed"] = np.arange(5) + 40
    table.to_csv(tmp_path / "conditions.csv", index=False)
    result = CliRunner().invoke(app, ["sample", "--conditions", str(tmp_path / "conditions.csv"), "--out",
                                      str(tmp_path / "set"), "--weights", str(weights), "--steps", "3",
                                      "--batch-size", "8", "--threads", "1"])
    assert result.exit_code == 0, result.output
    images, frame = read_synthetic_set(tmp_path / "set")
    assert images.shape == (5, 16, 16)
    assert frame["seed"].tolist() == [40, 41, 42, 43, 44]
    manifest = json.loads((tmp_path / "set" / "manifest.json").read_text())
    assert manifest["complete"] and "micro-16" in manifest["generator"]


def test_sample_with_a_bad_table_fails_clearly(tmp_path):
    weights = save_pretrained(random_model(), tmp_path / "w")
    condition_table(3).drop(columns=["age"]).to_csv(tmp_path / "c.csv", index=False)
    result = CliRunner().invoke(app, ["sample", "--conditions", str(tmp_path / "c.csv"), "--out",
                                      str(tmp_path / "set"), "--weights", str(weights)])
    assert isinstance(result.exception, SchemaError) and "age" in str(result.exception)
    assert not (tmp_path / "set" / "manifest.json").exists()


def test_train_generator_refuses_an_unknown_preset(tmp_path):
    result = CliRunner().invoke(app, ["train-generator", "--preset", "medium-48", "--out", str(tmp_path)])
    assert isinstance(result.exception, ConfigError)
    assert "known: paper-256, small-64, tiny-32" in str(result.exception)


def test_train_generator_on_the_phantom_writes_weights_and_card(tmp_path):
    pytest.importorskip("cxrbench.data.phantom")
    out = tmp_path / "tiny"
    args = ["train-generator", "--preset", "tiny-32", "--source", "phantom", "--n-patients", "30",
            "--steps", "2", "--batch-size", "4", "--threads", "1", "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    card = (out / "MODEL_CARD.md").read_text()
    assert "--n-patients 30" in card and "training split" in card and "sha256" in card
    assert re.search(r"^\| training patients \| [1-9][0-9]* \|$", card, flags=re.M)
    assert (out / "model_index.json").exists() and (out / "unet" / "diffusion_pytorch_model.safetensors").exists()
    assert (out / "loss.csv").exists()
