import numpy as np
import pytest
import torch

from cxrbench.baselines.classifier import (
    LabeledImages,
    TrainedClassifier,
    get_recipe,
    macro_auroc,
    read_predictions,
    supplement,
    train_classifier,
    write_predictions,
)
from cxrbench.errors import DataError

from .test_data import synthetic_for
from .toy import toy_set

FAST = dict(max_epochs=3, patience=3, batch_size=32, epoch_images=None)  # full passes over the toy set


@pytest.fixture(scope="module")
def sets():
    return toy_set(320, 0), toy_set(120, 1, prefix="val"), toy_set(200, 2, prefix="test")


@pytest.fixture(scope="module")
def trained(sets):
    train, val, _ = sets
    torch.set_num_threads(1)
    return train_classifier(train, val, get_recipe("quick", **FAST), seed=0, progress=False)


def weights(clf: TrainedClassifier) -> dict:
    return {k: v.clone() for k, v in clf.model.state_dict().items()}


def test_learns_the_toy_task(sets, trained):
    _, _, test = sets
    probs = trained.predict(test)
    assert probs.shape == (200, 4) and probs.dtype == np.float32
    auroc, _ = macro_auroc(test.labels, probs)
    assert auroc > 0.7, auroc  # 30 steps of a tiny CNN; chance is 0.5
    info = trained.info
    assert info["epochs_run"] == 3 and info["best_val_macro_auroc"] > 0.7
    assert [h["epoch"] for h in info["history"]] == [0, 1, 2]


def test_same_seed_same_weights_and_predictions(sets, trained):
    train, val, test = sets
    again = train_classifier(train, val, get_recipe("quick", **FAST), seed=0, progress=False)
    for key, value in weights(trained).items():
        assert torch.equal(value, again.model.state_dict()[key]), key
    np.testing.assert_array_equal(trained.predict(test), again.predict(test))
    other = train_classifier(train, val, get_recipe("quick", **FAST), seed=1, progress=False)
    assert not np.array_equal(trained.predict(test), other.predict(test))


def test_prediction_is_batch_size_independent_and_matches_features(sets, trained):
    _, _, test = sets
    whole = trained.predict(test.images, batch_size=200)
    np.testing.assert_allclose(trained.predict(test.images, batch_size=7), whole, atol=1e-5)
    feats = trained.features(test.images)
    assert feats.shape == (200, trained.model.num_features)
    head = trained.model.get_classifier()
    with torch.no_grad():
        from_feats = torch.sigmoid(head(torch.from_numpy(feats))).numpy()
    np.testing.assert_allclose(from_feats, whole, atol=1e-5)


def test_save_load_round_trip(tmp_path, sets, trained):
    _, _, test = sets
    trained.save(tmp_path / "clf")
    assert sorted(p.name for p in (tmp_path / "clf").iterdir()) == ["config.json", "model.safetensors"]
    loaded = TrainedClassifier.load(tmp_path / "clf")
    assert loaded.recipe == trained.recipe and loaded.label_names == trained.label_names
    np.testing.assert_array_equal(loaded.predict(test), trained.predict(test))
    with pytest.raises(DataError, match="not a saved classifier"):
        TrainedClassifier.load(tmp_path)


def test_resume_matches_an_uninterrupted_run(tmp_path, sets, trained):
    train, val, test = sets
    ckpt = tmp_path / "ckpt"
    train_classifier(train, val, get_recipe("quick", **{**FAST, "max_epochs": 3}), seed=0,
                     progress=False, checkpoint_dir=ckpt)
    lines = (ckpt / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 3
    # Interrupted after epoch 1 of 3: keep a checkpoint from a 2-epoch run with the 3-epoch recipe.
    ckpt2 = tmp_path / "ckpt2"
    recipe = get_recipe("quick", **FAST)

    class Stop(Exception):
        pass

    import cxrbench.baselines.classifier.train as train_module

    real_save = train_module.save_checkpoint
    calls = []

    def save_then_stop(*args, **kwargs):
        real_save(*args, **kwargs)
        calls.append(1)
        if len(calls) == 2:
            raise Stop

    train_module.save_checkpoint = save_then_stop
    try:
        with pytest.raises(Stop):
            train_classifier(train, val, recipe, seed=0, progress=False, checkpoint_dir=ckpt2)
    finally:
        train_module.save_checkpoint = real_save
    resumed = train_classifier(train, val, recipe, seed=0, progress=False, checkpoint_dir=ckpt2)
    assert resumed.info["epochs_run"] == 3 and len(resumed.info["history"]) == 3
    for key, value in weights(trained).items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key
    from cxrbench.errors import ConfigError

    with pytest.raises(ConfigError, match="checkpoint is for recipe"):
        train_classifier(train, val, recipe, seed=5, progress=False, checkpoint_dir=ckpt2)


def test_predictions_parquet(tmp_path, sets, trained):
    _, _, test = sets
    probs = trained.predict(test)
    path = write_predictions(tmp_path / "p.parquet", test.image_ids, probs, trained.label_names)
    frame = read_predictions(path, trained.label_names)
    assert list(frame.columns) == ["image_id", "A", "B", "C", "D"]
    assert frame["image_id"].tolist() == test.image_ids.tolist()
    np.testing.assert_array_equal(frame[list(trained.label_names)].to_numpy(), probs)
    with pytest.raises(DataError, match="do not match"):
        write_predictions(tmp_path / "q.parquet", test.image_ids[:3], probs, trained.label_names)


def test_supplemented_training_runs(sets):
    train, val, _ = sets
    parts = supplement(train, synthetic_for(train, 1), 100)
    clf = train_classifier(parts, val, get_recipe("quick", **{**FAST, "max_epochs": 1}), seed=0, progress=False)
    assert clf.info["n_train"] == 640 and clf.info["n_train_parts"] == [320, 320]
    assert [h["images"] for h in clf.info["history"]] == [640]
    fixed = train_classifier(parts, val, get_recipe("quick", **{**FAST, "max_epochs": 2, "epoch_images": 128}),
                             seed=0, progress=False)
    assert [h["images"] for h in fixed.info["history"]] == [128, 128]


def test_bad_inputs_are_clear_errors(sets):
    train, val, test = sets
    recipe = get_recipe("quick", **{**FAST, "max_epochs": 1})
    with pytest.raises(DataError, match="test images and may not enter training"):
        train_classifier(train, val, recipe, seed=0, forbidden_ids=train.image_ids[:2], progress=False)
    with pytest.raises(DataError, match="validation set"):
        train_classifier(train, val, recipe, seed=0, forbidden_ids=val.image_ids[:1], progress=False)
    with pytest.raises(DataError, match="label set does not match"):
        train_classifier(train, val, recipe, seed=0, label_names=("A", "B", "C", "X"), progress=False)
    other = toy_set(50, 3, label_names=("A", "B", "C", "E"), prefix="o")
    with pytest.raises(DataError, match="training set part 0: label set does not match"):
        train_classifier(other, val, recipe, seed=0, progress=False)
    empty = LabeledImages(train.images[:0], train.labels[:0], [], train.label_names)
    with pytest.raises(DataError, match="empty"):
        train_classifier(empty, val, recipe, seed=0, progress=False)
    constant = LabeledImages(train.images, np.zeros_like(train.labels), train.image_ids, train.label_names)
    with pytest.raises(DataError, match="single class for every label"):
        train_classifier(constant, val, recipe, seed=0, progress=False)
    with pytest.raises(DataError, match="both training and validation"):
        train_classifier(train, train, recipe, seed=0, progress=False)
    with pytest.raises(DataError, match="eval set labels"):
        clf = train_classifier(train, val, recipe, seed=0, progress=False)
        clf.predict(other)


def test_standard_recipe_path_runs_and_is_seeded(sets):
    """Lion, mixup, label smoothing, flips, dropout and EMA 0.999 (the standard preset) on a small CNN."""
    train, val, test = sets
    recipe = get_recipe("standard", backbone="cxr_tiny", image_size=32, batch_size=32, max_epochs=1)
    assert recipe.optimizer == "lion" and recipe.mixup_alpha > 0 and recipe.label_smoothing > 0
    a = train_classifier(train, val, recipe, seed=3, progress=False)
    b = train_classifier(train, val, recipe, seed=3, progress=False)
    pa = a.predict(test)
    assert np.isfinite(pa).all()
    np.testing.assert_array_equal(pa, b.predict(test))
