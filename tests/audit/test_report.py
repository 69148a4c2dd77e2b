"""`audit(...)` end to end on a toy image world: controls rank, flags fire, bad input is named."""

import json

import numpy as np
import pytest
import toy
from rich.console import Console

from cxrbench.audit import AuditConfig, PixelExtractor, RealImages, audit, cli_table
from cxrbench.errors import DataError
from cxrbench.schema import PATHOLOGIES

# In the toy world findings are big disks and every label combination is unique, so an image
# conditioned on a training row is nearer that row than random different-patient pairs are
# (1.5-7 % under the 1 % close threshold, measured); the phantom oracle sits at ~1 % (test_controls).
CONFIG = AuditConfig(min_per_finding=20, memorization_tolerance=0.2)


@pytest.fixture(scope="module")
def world():
    train_images, train_patients, train_labels = toy.world(250, 2, seed=0)
    test_images, _, _ = toy.world(80, 2, seed=1)
    n = len(train_labels)
    controls = {
        "oracle": toy.render(train_labels, np.arange(n) + 5 * 10**6, np.arange(n) + 7 * 10**6),
        "noise": np.random.default_rng(0).integers(0, 256, train_images.shape, dtype=np.uint8),
        "copy": train_images.copy(),
        "test_leak": np.resize(test_images, train_images.shape),
    }
    real = RealImages(train_images, train_patients, train_labels)
    reports = {name: audit(images, train_labels, real, test_images, PixelExtractor(16), toy.DiskReader(),
                           config=CONFIG) for name, images in controls.items()}
    return real, test_images, controls, reports


def test_oracle_has_best_fidelity_and_adherence_noise_worst(world):
    _, _, _, r = world
    fd = {k: v.fidelity.frechet_distance for k, v in r.items()}
    assert fd["noise"] == max(fd.values())
    assert fd["oracle"] < fd["noise"] / 10
    assert r["oracle"].fidelity.precision > 0.5 > r["noise"].fidelity.precision
    assert r["oracle"].fidelity.coverage > 0.5 > r["noise"].fidelity.coverage
    assert r["oracle"].adherence.macro_auroc > 0.95
    assert abs(r["noise"].adherence.macro_auroc - 0.5) < 0.1
    for name in PATHOLOGIES:  # conditional fidelity too
        assert r["oracle"].fidelity.per_finding[name].frechet_distance < r["noise"].fidelity.per_finding[name].frechet_distance


def test_copy_is_faithful_but_flagged_for_memorization(world):
    _, _, _, r = world
    copy = r["copy"]
    assert copy.fidelity.frechet_distance < 1e-3 and copy.fidelity.precision == 1.0
    assert copy.memorization_flag and not copy.leakage_flag
    assert all(s.share_close == 1.0 for s in copy.memorization.spaces)
    assert not r["oracle"].memorization_flag and not r["noise"].memorization_flag


def test_test_images_are_flagged_as_leakage(world):
    _, test_images, _, r = world
    leak = r["test_leak"]
    assert leak.leakage_flag
    assert all(s.n_near_duplicate == leak.n_synthetic for s in leak.leakage.spaces)
    assert not any(r[k].leakage_flag for k in ("oracle", "noise", "copy"))


def test_collapsed_generator_has_low_spread_and_duplicates(world):
    real, test_images, controls, _ = world
    collapsed = np.resize(controls["oracle"][:5], controls["oracle"].shape)
    report = audit(collapsed, real.labels, real, test_images, PixelExtractor(16), config=CONFIG)
    assert all(rate > 0.95 for rate in report.diversity.duplicate_rate.values())
    assert report.adherence is None  # no classifier given
    console = Console(record=True, width=160)
    console.print(cli_table(report))
    assert "duplicate rate" in console.export_text() and "AUROC" not in console.export_text()
    assert report.fidelity.recall < 0.2 and report.fidelity.coverage < 0.2
    assert world[3]["oracle"].diversity.duplicate_rate["pixels-16@1"] == 0.0


def test_report_is_json_and_renders(world, tmp_path):
    real, test_images, controls, r = world
    blob = json.dumps(r["test_leak"].to_dict(), allow_nan=False)
    back = json.loads(blob)
    assert back["leakage_flag"] is True and back["memorization"]["tolerance"] == CONFIG.memorization_tolerance
    head = r["test_leak"].headline()
    assert head["leakage_flag"] is True and head["leakage_near_duplicates"] == r["test_leak"].n_synthetic
    assert r["copy"].headline()["memorization_share_close"] == 1.0
    assert r["oracle"].headline()["adherence_macro_auroc"] == r["oracle"].adherence.macro_auroc
    console = Console(record=True, width=160)
    console.print(cli_table(r["test_leak"]))
    text = console.export_text()
    assert "LEAKAGE" in text and "hard failure" in text
    console.print(cli_table(r["oracle"]))
    assert "none" in console.export_text()


def test_gallery_pngs_are_written(world, tmp_path):
    real, test_images, controls, _ = world
    report = audit(controls["copy"][:60], real.labels.iloc[:60], real, test_images, PixelExtractor(16),
                   config=CONFIG, gallery_dir=tmp_path)
    assert (report.memorization.gallery, report.leakage.gallery) == ("memorization.png", "leakage.png")
    for name in (report.memorization.gallery, report.leakage.gallery):  # names inside gallery_dir: records stay portable
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _call(real, test_images, **over):
    args = dict(synthetic_images=real.images[:20], synthetic_conditions=real.labels.iloc[:20], real_train=real,
                real_test_images=test_images, extractor=PixelExtractor(16))
    args.update(over)
    return audit(**args, config=CONFIG)


@pytest.mark.parametrize("over, message", [
    (dict(synthetic_images=np.zeros((0, 32, 32), np.uint8)), "synthetic images: the image set is empty"),
    (dict(synthetic_images=np.zeros((20, 32, 32), np.float32)), "synthetic images: dtype float32; expected uint8"),
    (dict(synthetic_images=np.zeros((20, 64, 64), np.uint8)), "real training images: images are 32x32, expected 64x64"),
    (dict(real_test_images=np.zeros((5, 16, 16), np.uint8)), "real test images: images are 16x16, expected 32x32"),
    (dict(synthetic_conditions="labels"), "expected a DataFrame"),
    (dict(synthetic_images=np.zeros((3, 32, 32), np.uint8)), "synthetic images: 3 image"),
])
def test_bad_input_is_named(world, over, message):
    real, test_images, _, _ = world
    with pytest.raises(DataError, match=message):
        _call(real, test_images, **over)


def test_mismatched_tables_are_named(world):
    real, test_images, _, _ = world
    with pytest.raises(DataError, match="synthetic conditions: 19 label rows for 20 images"):
        _call(real, test_images, synthetic_conditions=real.labels.iloc[:19])
    with pytest.raises(DataError, match="missing label column"):
        _call(real, test_images, synthetic_conditions=real.labels.iloc[:20].drop(columns=["Edema"]))
    bad = real.labels.iloc[:20].copy()
    bad.iloc[3, 2] = 2
    with pytest.raises(DataError, match="row 3 has 2"):
        _call(real, test_images, synthetic_conditions=bad)
    short = RealImages(real.images, real.patient_ids[:-1], real.labels)
    with pytest.raises(DataError, match="patient ids"):
        _call(real, test_images, real_train=short)
    one_patient = RealImages(real.images, np.full(len(real.images), "p"), real.labels)
    with pytest.raises(DataError, match="at least 2 patients"):
        _call(real, test_images, real_train=one_patient)
