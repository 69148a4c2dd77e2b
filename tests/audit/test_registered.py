"""The registered pixel distance finds a film's source after a shift, a mirror, brightness and
contrast changes, among many alike phantom films; and never pairs a film with its own patient."""

import numpy as np
import pytest

from cxrbench.audit.registered import registered_nearest, shift_range
from cxrbench.data.phantom import PhantomSource


@pytest.fixture(scope="module")
def films():
    source = PhantomSource("site-a", n_patients=150, seed=5)
    rows = source.rows()
    return source.load_batch(rows, 32), rows["patient_id"].astype(str).to_numpy()


@pytest.fixture(scope="module")
def other_patient(films):
    """Each of 40 films' registered distance to its nearest film of another patient, and that film."""
    images, patients = films
    codes = np.unique(patients, return_inverse=True)[1]
    dist, idx = registered_nearest(images[:40], images, query_groups=codes[:40], reference_groups=codes)
    return dist, codes[idx] != codes[:40]


def _moved(x: np.ndarray, dy: int, dx: int) -> np.ndarray:
    s = x.shape[-1]
    return x[:, np.clip(np.arange(s) - dy, 0, s - 1)][:, :, np.clip(np.arange(s) - dx, 0, s - 1)]


@pytest.mark.parametrize("dy, dx, mirror, gain, offset", [
    (1, 0, False, 1.0, 0), (4, -3, False, 1.0, 0), (-2, 3, True, 1.0, 0), (0, 0, False, 0.8, 10), (2, 2, True, 1.1, -8),
])
def test_a_moved_retouched_copy_finds_its_source(films, other_patient, dy, dx, mirror, gain, offset):
    images, _ = films
    picked = np.arange(0, len(images), 7)
    copies = _moved(images[picked], dy, dx)
    copies = copies[:, :, ::-1] if mirror else copies
    copies = np.clip(np.rint(copies * gain + offset), 0, 255).astype(np.uint8)
    dist, idx = registered_nearest(copies, images)
    assert (idx == picked).all()
    assert dist.max() < 0.5 * other_patient[0].min()  # exact up to rounding and clipped grey levels


def test_a_film_of_the_same_patient_is_never_the_neighbour(other_patient):
    assert other_patient[1].all()


def test_shift_range_covers_the_original_pixels():
    assert shift_range(32, 4) == 4 and shift_range(64, 4) == 2 and shift_range(256, 4) == 1
    assert shift_range(8, 4) == 8  # at most a quarter of the compared side
