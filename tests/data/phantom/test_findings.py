"""Each finding has its visible, measurable effect; uncertain labels follow the documented rule.

Images with and without a label share their seeds, so anatomy, exposure and noise are
identical and every difference is the finding's.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from cxrbench.data.phantom import render
from cxrbench.data.phantom.render import UNCERTAIN_DRAWN, attenuation
from cxrbench.schema import PATHOLOGIES

from .conftest import condition_rows

S = 128
N = 12
COORD = (np.arange(S) + 0.5) / S * 2 - 1  # normalised pixel centres, -1..1
SEEDS = np.arange(500, 500 + N, dtype=np.int64)


def pair(label: str, value: float = 1.0, **fields) -> tuple[np.ndarray, np.ndarray]:
    """(images with the label, the same seeds without it) as float arrays (N, S, S)."""
    with_label = render(condition_rows(N, {label: value}, **fields), SEEDS, S).astype(float)
    without = render(condition_rows(N, **fields), SEEDS, S).astype(float)
    return with_label, without


def zone(y0, y1, x0, x1) -> tuple[np.ndarray, np.ndarray]:
    """Index arrays of the rows with y0 < y < y1 and columns with x0 < |x| < x1."""
    return np.ix_((COORD > y0) & (COORD < y1), (np.abs(COORD) > x0) & (np.abs(COORD) < x1))


def measure_ctr(image: np.ndarray) -> float:
    """Cardiothoracic ratio read off the film: widest heart run over widest lung extent."""
    img = gaussian_filter(image.astype(float), 1.0)
    lung = np.median(img[zone(-0.4, 0.0, 0.45, 0.6)])
    heart = np.median(img[np.ix_((COORD > 0.1) & (COORD < 0.25), (COORD > 0.1) & (COORD < 0.2))])
    threshold = lung + 0.4 * (heart - lung)
    mid = S // 2
    hearts, thoraces = [], []
    for r in np.nonzero((COORD > 0.0) & (COORD < 0.3))[0]:
        dark = img[r] < threshold
        if not dark[:mid].any() or not dark[mid:].any():
            continue
        hearts.append(np.argmax(dark[mid:]) + np.argmax(dark[:mid][::-1]))
        lungs = np.nonzero(dark & (img[r] > 0.5 * lung))[0]
        thoraces.append(lungs[-1] - lungs[0] + 1)
    return max(hearts) / max(thoraces)


def test_every_finding_changes_the_film():
    for label in PATHOLOGIES[1:]:
        with_label, without = pair(label)
        changed = np.abs(with_label - without).reshape(N, -1)
        assert (changed.max(axis=1) >= 3).all(), f"{label}: some positive films show no change"


def test_no_finding_negative_and_blank_draw_nothing():
    base = render(condition_rows(N), SEEDS, 64)
    for labels in ({"No Finding": 1.0}, {name: 0.0 for name in PATHOLOGIES[1:]}):
        assert np.array_equal(render(condition_rows(N, labels), SEEDS, 64), base)


def test_uncertain_is_drawn_faintly_or_not_at_all():
    seeds = np.arange(200, dtype=np.int64)
    n = len(seeds)
    none = render(condition_rows(n), seeds, 32).astype(float)
    pos = render(condition_rows(n, {"Consolidation": 1.0}), seeds, 32).astype(float)
    unc = render(condition_rows(n, {"Consolidation": -1.0}), seeds, 32).astype(float)
    effect_pos = np.abs(pos - none).reshape(n, -1).sum(axis=1)
    effect_unc = np.abs(unc - none).reshape(n, -1).sum(axis=1)
    drawn = effect_unc > 0
    assert abs(drawn.mean() - UNCERTAIN_DRAWN) < 0.12
    assert (effect_unc[drawn] < effect_pos[drawn]).all()  # half severity


def test_cardiomegaly_raises_the_measured_cardiothoracic_ratio():
    for view in ("PA", "AP"):
        with_label, without = pair("Cardiomegaly", view=view)
        ctr_with = np.array([measure_ctr(i) for i in with_label])
        ctr_without = np.array([measure_ctr(i) for i in without])
        assert (ctr_with >= ctr_without - 0.01).all()
        assert ctr_with.mean() - ctr_without.mean() > 0.04
    pa_normal = np.array([measure_ctr(i) for i in pair("Cardiomegaly", view="PA")[1]])
    ap_normal = np.array([measure_ctr(i) for i in pair("Cardiomegaly", view="AP")[1]])
    assert ap_normal.mean() > pa_normal.mean() + 0.05  # AP magnifies the heart


def test_enlarged_cardiomediastinum_widens_the_upper_mediastinum():
    with_label, without = pair("Enlarged Cardiomediastinum")
    band = zone(-0.45, -0.2, 0.08, 0.3)  # just lateral to the normal mediastinal border
    assert (with_label[(slice(None),) + band].mean(axis=(1, 2)) > without[(slice(None),) + band].mean(axis=(1, 2))).all()


def test_effusion_raises_lower_zone_density():
    with_label, without = pair("Pleural Effusion")
    angles = (slice(None),) + zone(0.3, 0.65, 0.45, 0.75)  # costophrenic angles
    gain = with_label[angles].mean(axis=(1, 2)) - without[angles].mean(axis=(1, 2))
    assert (gain > 0.5).all() and np.median(gain) > 2
    upper = (slice(None),) + zone(-0.6, -0.3, 0.3, 0.7)
    assert np.abs(with_label[upper] - without[upper]).mean() < 0.5  # the apices are untouched


def test_pneumothorax_removes_markings_at_the_periphery():
    # On the film: a lucent rim (darker than the normal film with the same seeds) and a line.
    with_label, without = pair("Pneumothorax")
    for i in range(N):
        assert ((with_label[i] < without[i] - 1) & (np.abs(COORD)[None, :] > 0.3)).sum() > 10, f"film {i}: no rim"
        assert (with_label[i] > without[i] + 2).any(), f"film {i}: no visceral pleural line"
    # In the marking layer: the lung markings of the collapsed side's periphery are gone.
    _, markings_with = attenuation(condition_rows(N, {"Pneumothorax": 1.0}), SEEDS, S)
    _, markings_without = attenuation(condition_rows(N), SEEDS, S)
    rows = (COORD > -0.7) & (COORD < 0.1)
    kept_on_collapsed_side = []
    for i in range(N):
        removed = markings_without[i] - markings_with[i]
        assert removed.min() >= 0  # markings are only ever removed
        sides = [(np.sign(COORD) == sign) & (np.abs(COORD) > 0.6) for sign in (-1, 1)]
        kept = [markings_with[i][rows][:, cols].sum() / max(markings_without[i][rows][:, cols].sum(), 1e-9)
                for cols in sides]
        kept_on_collapsed_side.append(min(kept))
        assert max(kept) == 1.0  # the other lung keeps all its markings
    assert max(kept_on_collapsed_side) < 0.75 and np.median(kept_on_collapsed_side) < 0.5, kept_on_collapsed_side


def test_edema_is_bilateral_and_perihilar():
    with_label, without = pair("Edema")
    for sign in (-1, 1):
        cols = (np.sign(COORD) == sign) & (np.abs(COORD) > 0.15) & (np.abs(COORD) < 0.4)
        rows = (COORD > -0.2) & (COORD < 0.15)
        gain = with_label[:, rows][:, :, cols].mean(axis=(1, 2)) - without[:, rows][:, :, cols].mean(axis=(1, 2))
        assert (gain > 0.5).all()


def test_support_devices_are_radiopaque():
    with_label, without = pair("Support Devices")
    brighter = (with_label - without).reshape(N, -1)
    assert (brighter.max(axis=1) >= 25).all()  # dense lines or boxes on every film
    assert (brighter.min(axis=1) >= 0).all()


def test_fracture_is_a_local_change_in_bone():
    with_label, without = pair("Fracture")
    changed = np.abs(with_label - without) >= 2
    frac = changed.reshape(N, -1).mean(axis=1)
    assert (frac > 0).all() and (frac < 0.03).all()


@pytest.mark.parametrize("label", ["Lung Opacity", "Lung Lesion", "Consolidation", "Pneumonia", "Atelectasis",
                                   "Pleural Other"])
def test_opacities_add_density_inside_the_lungs(label):
    with_label, without = pair(label)
    diff = with_label - without
    lungs = (slice(None),) + zone(-0.7, 0.55, 0.15, 0.75)
    assert (diff[lungs].sum(axis=(1, 2)) > 0).all()
    outside = (slice(None),) + zone(-1, 1, 0.85, 1.0)
    assert np.abs(diff[outside]).max() == 0  # nothing outside the chest


def test_conspicuity_scales_findings():
    seeds = SEEDS
    none = render(condition_rows(N), seeds, 64).astype(float)
    effects = []
    for c in (0.0, 0.5, 1.0):
        img = render(condition_rows(N, {"Lung Lesion": 1.0}), seeds, 64, conspicuity=c).astype(float)
        effects.append(np.abs(img - none).sum())
    assert effects[0] == 0 and effects[0] < effects[1] < effects[2]
