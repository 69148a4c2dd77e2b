"""Training: exact resume, a loss that goes down, checkpoints that refuse a different run."""

import json

import numpy as np
import pytest
import torch

from cxrbench.baselines.ddpm.model import load_pretrained
from cxrbench.baselines.ddpm.training import LOSS_FILE, TrainSettings, train_generator
from cxrbench.errors import ConfigError, DataError

from .ddpm_helpers import MICRO, two_class_images


def _data(n=40, seed=0):
    return two_class_images(n, seed)


def _settings(**kw):
    return TrainSettings(**({"steps": 6, "batch_size": 8, "warmup_steps": 2, "checkpoint_every": 3,
                             "log_every": 1, "lr": 1e-3} | kw))


def test_resume_gives_the_same_weights_as_one_run(tmp_path):
    images, conds = _data()
    train_generator(MICRO, images, conds, _settings(), tmp_path / "straight", progress=False)
    train_generator(MICRO, images, conds, _settings(), tmp_path / "split", progress=False, stop_after=3)
    assert not (tmp_path / "split" / "model_index.json").exists()  # not finished: no weights
    train_generator(MICRO, images, conds, _settings(), tmp_path / "split", progress=False)
    a = load_pretrained(tmp_path / "straight").state_dict()
    b = load_pretrained(tmp_path / "split").state_dict()
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    steps = [int(line.split(",")[0]) for line in (tmp_path / "split" / LOSS_FILE).read_text().splitlines()[1:]]
    assert steps == [1, 2, 3, 4, 5, 6]


def test_extending_a_run_equals_training_longer(tmp_path):
    images, conds = _data()
    train_generator(MICRO, images, conds, _settings(steps=3), tmp_path / "a", progress=False)
    train_generator(MICRO, images, conds, _settings(steps=6), tmp_path / "a", progress=False)
    train_generator(MICRO, images, conds, _settings(steps=6), tmp_path / "b", progress=False)
    a = load_pretrained(tmp_path / "a").state_dict()
    b = load_pretrained(tmp_path / "b").state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_loss_goes_down(tmp_path):
    images, conds = _data(64)
    train_generator(MICRO, images, conds, _settings(steps=60, log_every=10, checkpoint_every=60),
                    tmp_path, progress=False)
    losses = [float(line.split(",")[1]) for line in (tmp_path / LOSS_FILE).read_text().splitlines()[1:]]
    assert len(losses) == 6
    assert losses[-1] < 0.6 * losses[0]


def test_checkpoint_of_another_run_is_refused(tmp_path):
    images, conds = _data()
    train_generator(MICRO, images, conds, _settings(), tmp_path, progress=False, stop_after=3)
    with pytest.raises(ConfigError, match="different settings"):
        train_generator(MICRO, images, conds, _settings(lr=3e-3), tmp_path, progress=False)
    with pytest.raises(ConfigError, match="different data_fingerprint"):
        train_generator(MICRO, images, conds, _settings(), tmp_path, progress=False, data_fingerprint="other")
    meta = json.loads((tmp_path / ".checkpoint" / "meta.json").read_text())
    assert meta["step"] == 3


def test_bad_training_data_is_refused(tmp_path):
    images, conds = _data()
    with pytest.raises(DataError, match="16x16"):
        train_generator(MICRO.model_copy(update={"image_size": 32}), images, conds, _settings(), tmp_path)
    with pytest.raises(DataError, match="condition rows"):
        train_generator(MICRO, images, conds[:5], _settings(), tmp_path)
    with pytest.raises(DataError, match="uint8"):
        train_generator(MICRO, images.astype(np.float32), conds, _settings(), tmp_path)
