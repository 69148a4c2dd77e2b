"""A generative model of test sets and classifier runs, to calibrate the reported inference.

Written apart from the phantom and from the classifier pools that tuned the estimator, so that
the calibration does not share their assumptions. A test set is patients with 1-5 films; labels
come from a two-factor patient latent (their correlation is not CheXpert's), read per film with
misses, uncertain (-1) and unmentioned (NaN) entries. A classifier run (one training seed of one
arm) scores film i of patient p on label l as

    score = (skill_l + δ_l + σ_seed·(g_s + h_sl))·y_il        signal; g, h: seed-level shifts
            + τ_l·u_pl                                         patient latent, shared by every run
            + κ·v_spl                                          seed × patient interaction
            + ε_isl                                            film noise (sd 1)

The arms of a null draw their runs from one distribution (their seed sd may differ: the signal of
the noisier arm is raised so that both have the same expected AUROC, see `expected_auroc`).
Everything is Gaussian and independent of the labels, so a label's expected seed-mean AUROC is
Φ(β / √(2σ²_noise + σ²_seed)) exactly (β the mean signal, σ²_noise = τ² + κ² + 1), up to
the rare pairs of films from one patient.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.special import ndtr, ndtri

from cxrbench.schema import PATHOLOGIES


@dataclass(frozen=True)
class World:
    """The population: label structure, patient latent, and how runs vary between seeds."""

    labels: tuple[str, ...] = tuple(PATHOLOGIES)
    #: per-label share of patients with the finding: wider than CheXpert's, down to rare labels
    prevalence: tuple[float, ...] = (0.04, 0.12, 0.30, 0.06, 0.18, 0.08, 0.03, 0.15, 0.05, 0.25, 0.10, 0.02,
                                     0.07, 0.40)
    #: loadings of each label on the two patient factors (cardiac-like and infective-like)
    loadings: tuple[tuple[float, float], ...] = ((0.9, 0.1), (1.1, 0.0), (0.3, 0.8), (0.0, 0.5), (0.8, 0.4),
                                                 (0.1, 1.0), (0.0, 1.1), (0.2, 0.7), (-0.3, 0.2), (0.7, 0.3),
                                                 (-0.2, -0.1), (0.0, 0.0), (0.4, -0.3), (0.5, 0.5))
    mean_films: float = 1.3  # films per patient: 1 + Poisson(mean_films), at most 5
    miss: float = 0.04  # a positive patient's film that does not show the finding (read 0)
    uncertain: float = 0.05  # a film's label read -1
    unmentioned: float = 0.05  # a film's label left NaN
    #: mean signal per label (AUROC ≈ 0.65-0.85 at the noise below)
    skill: tuple[float, ...] = (1.3, 1.9, 1.2, 1.0, 1.6, 1.1, 0.9, 1.2, 1.4, 1.8, 1.0, 1.5, 2.2, 2.6)
    patient_sd: float = 0.7  # τ: the patient latent (a hard patient is hard for every model)
    interaction_sd: float = 0.5  # κ: seed × patient interaction
    seed_sd: float = 0.045  # σ_seed of the signal between training seeds (per-seed macro AUROC sd ≈ 0.006)
    seed_common: float = 0.6  # share of the seed shift common to all labels (g_s); the rest per label (h_sl)

    @property
    def noise_var(self) -> float:
        return self.patient_sd**2 + self.interaction_sd**2 + 1.0

    def expected_auroc(self, signal: np.ndarray, seed_sd: float) -> np.ndarray:
        """Expected per-seed AUROC of each label at mean `signal`, seeds varying with `seed_sd`."""
        return ndtr(np.asarray(signal) / np.sqrt(2 * self.noise_var + seed_sd**2))

    def signal_for(self, auroc: np.ndarray, seed_sd: float) -> np.ndarray:
        """The mean signal that gives each label expected AUROC `auroc` at `seed_sd`."""
        return ndtri(np.asarray(auroc)) * np.sqrt(2 * self.noise_var + seed_sd**2)


@dataclass(frozen=True)
class TestSet:
    """Rows (image_id, patient_id, 14 labels), and the patient latent every run shares."""

    rows: pd.DataFrame
    patient_of_film: np.ndarray  # (N,) patient index
    visible: np.ndarray  # (N, L) 1 where the film shows the finding
    latent: np.ndarray = field(repr=False)  # (P, L) u_pl


def draw_test_set(world: World, n_patients: int, rng: np.random.Generator) -> TestSet:
    n_labels = len(world.labels)
    factors = rng.normal(size=(n_patients, 2))
    threshold = ndtri(1 - np.asarray(world.prevalence))
    load = np.asarray(world.loadings)
    scale = np.sqrt(1 + (load**2).sum(axis=1))  # keep each label's prevalence as given
    disease = (factors @ load.T + rng.normal(size=(n_patients, n_labels))) / scale > threshold
    films = 1 + np.minimum(rng.poisson(world.mean_films, n_patients), 4)
    patient = np.repeat(np.arange(n_patients), films)
    visible = disease[patient] & (rng.random((patient.size, n_labels)) >= world.miss)
    read = visible.astype(np.float64)
    u = rng.random(read.shape)
    read[u < world.uncertain] = -1.0
    read[(u >= world.uncertain) & (u < world.uncertain + world.unmentioned)] = np.nan
    rows = pd.DataFrame(read, columns=list(world.labels))
    rows.insert(0, "patient_id", [f"p{k:06d}" for k in patient])
    rows.insert(0, "image_id", [f"f{i:07d}" for i in range(patient.size)])
    return TestSet(rows, patient, visible, rng.normal(size=(n_patients, n_labels)))


def draw_runs(world: World, test: TestSet, n_seeds: int, signal: np.ndarray, seed_sd: float,
              rng: np.random.Generator) -> np.ndarray:
    """(S, N, L) scores of `n_seeds` independent training runs of one arm with mean `signal` per label."""
    n_patients, n_labels = test.latent.shape
    common = rng.normal(size=(n_seeds, 1)) * np.sqrt(world.seed_common)
    own = rng.normal(size=(n_seeds, n_labels)) * np.sqrt(1 - world.seed_common)
    beta = np.asarray(signal)[None, :] + seed_sd * (common + own)  # (S, L)
    shared = world.patient_sd * test.latent[test.patient_of_film]  # (N, L)
    out = np.empty((n_seeds, test.patient_of_film.size, n_labels))
    for s in range(n_seeds):
        interaction = world.interaction_sd * rng.normal(size=(n_patients, n_labels))[test.patient_of_film]
        out[s] = beta[s] * test.visible + shared + interaction + rng.normal(size=out.shape[1:])
    return out
