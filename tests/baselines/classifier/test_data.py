import numpy as np
import pandas as pd
import pytest

from cxrbench.baselines.classifier import LabeledImages, from_rows, supplement, training_targets
from cxrbench.baselines.classifier.data import check_forbidden, check_trainable
from cxrbench.errors import DataError

from .toy import toy_set


def synthetic_for(real: LabeledImages, replicas: int) -> LabeledImages:
    rows = np.repeat(np.arange(len(real)), replicas)
    return LabeledImages(real.images[rows], real.labels[rows], [f"syn{i}" for i in range(len(rows))],
                         real.label_names, condition_ids=real.image_ids[rows])


def test_labeled_images_validates_shapes_and_values():
    images = np.zeros((3, 8, 8), np.uint8)
    with pytest.raises(DataError, match="uint8"):
        LabeledImages(images.astype(np.float32), np.zeros((3, 2)), ["a", "b", "c"], ("x", "y"))
    with pytest.raises(DataError, match=r"\(3, 2\)"):
        LabeledImages(images, np.zeros((3, 3)), ["a", "b", "c"], ("x", "y"))
    with pytest.raises(DataError, match="label 'y' of image b is 2"):
        LabeledImages(images, np.array([[0, 0], [1, 2], [0, 0]]), ["a", "b", "c"], ("x", "y"))
    with pytest.raises(DataError, match="2 image_ids for 3"):
        LabeledImages(images, np.zeros((3, 2)), ["a", "b"], ("x", "y"))


def test_training_targets_policies():
    raw = np.array([[1, 0, -1, np.nan]], np.float32)
    np.testing.assert_array_equal(training_targets(raw, "ignore", "negative"), [[1, 0, np.nan, 0]])
    np.testing.assert_array_equal(training_targets(raw, "ones", "mask"), [[1, 0, 1, np.nan]])
    np.testing.assert_array_equal(training_targets(raw, "zeros", "negative"), [[1, 0, 0, 0]])


def test_supplement_replica_scheme():
    real = toy_set(20, 0)
    parts = supplement(real, synthetic_for(real, 3), 300)
    assert [len(p) for p in parts] == [20, 60]
    half = synthetic_for(real, 1)
    half = LabeledImages(half.images[:10], half.labels[:10], half.image_ids[:10], half.label_names,
                         condition_ids=half.condition_ids[:10])
    assert [len(p) for p in supplement(real, half, 50)] == [20, 10]


def test_supplement_rejects_mismatched_conditions():
    real = toy_set(20, 0)
    with pytest.raises(DataError, match="needs 60"):
        supplement(real, synthetic_for(real, 2), 300)
    syn = synthetic_for(real, 2)
    cond = syn.condition_ids.copy()
    cond[0] = "not-a-training-row"
    with pytest.raises(DataError, match="not in the real training set"):
        supplement(real, LabeledImages(syn.images, syn.labels, syn.image_ids, syn.label_names, condition_ids=cond), 200)
    cond = syn.condition_ids.copy()
    cond[1] = cond[2]  # row 0 conditions 1 image, row 1 conditions 3
    with pytest.raises(DataError, match="replica scheme broken"):
        supplement(real, LabeledImages(syn.images, syn.labels, syn.image_ids, syn.label_names, condition_ids=cond), 200)
    labels = syn.labels.copy()
    labels[5, 1] = 1 - np.nan_to_num(labels[5, 1])
    with pytest.raises(DataError, match="its condition row"):
        supplement(real, LabeledImages(syn.images, labels, syn.image_ids, syn.label_names, condition_ids=syn.condition_ids), 200)
    with pytest.raises(DataError, match="no condition_ids"):
        supplement(real, real, 100)
    other = toy_set(20, 0, label_names=("A", "B", "C", "E"))
    with pytest.raises(DataError, match="missing \\['D'\\] extra \\['E'\\]"):
        supplement(real, synthetic_for(other, 1), 100)


def test_forbidden_ids_cover_images_and_conditions():
    real = toy_set(10, 0)
    with pytest.raises(DataError, match="1 image id"):
        check_forbidden([real], ["img00003", "elsewhere"], "training set")
    with pytest.raises(DataError, match="condition id"):
        check_forbidden([synthetic_for(real, 1)], ["img00004"], "training set")
    check_forbidden([real], ["other"], "training set")


def test_trainable_checks():
    with pytest.raises(DataError, match="empty"):
        check_trainable(np.zeros((0, 2), np.float32), ("a", "b"))
    with pytest.raises(DataError, match="single class for every label"):
        check_trainable(np.zeros((5, 2), np.float32), ("a", "b"))
    assert check_trainable(np.array([[0, 1], [1, 1]], np.float32), ("a", "b")) == ["b"]


def test_from_rows_checks_label_columns():
    rows = pd.DataFrame({"image_id": ["a", "b"], "patient_id": ["p", "q"], "X": [1.0, np.nan], "Y": [0.0, -1.0]})
    images = np.zeros((2, 8, 8), np.uint8)
    got = from_rows(rows, images, ("Y", "X"))
    np.testing.assert_array_equal(got.labels, [[0, 1], [-1, np.nan]])
    with pytest.raises(DataError, match="lack the task's label"):
        from_rows(rows, images, ("X", "Z"))
