"""A tiny CNN learns every finding above chance from a small phantom set (slow: minutes of CPU).

Labels are drawn independently (35 % positive each) so every finding has enough positives;
AUROC is measured on held-out images with fresh seeds. "Above chance" = AUROC ≥ 0.56, about three
standard errors above 0.5 with ~280 positives among 800 test films. A rib fracture is a small
local sign (break, step, fusiform callus), so it is learnt on its own set.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import roc_auc_score
from torch import nn

from cxrbench.data.phantom import render
from cxrbench.schema import PATHOLOGIES, RACES

FINDINGS = PATHOLOGIES[1:]  # No Finding is the absence of the others
ABOVE_CHANCE = 0.56


def balanced_conditions(n: int, seed: int, findings=FINDINGS) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    labels = (rng.random((n, len(FINDINGS))) < 0.35) & np.isin(FINDINGS, findings)
    df = pd.DataFrame(np.where(labels, 1.0, np.nan), columns=list(FINDINGS))
    df.insert(0, "No Finding", np.where(labels.any(axis=1), np.nan, 1.0))
    df["age"] = rng.integers(20, 90, n).astype(float)
    df["sex"] = rng.choice(["F", "M"], n)
    df["race"] = rng.choice(RACES, n)
    df["view"] = rng.choice(["AP", "PA"], n)
    df["site"] = "site-a"
    return df


def tiny_cnn(n_out: int) -> nn.Module:
    def block(c_in, c_out):
        return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]

    # global max pooling: a focal finding anywhere in the lungs should light up one location
    return nn.Sequential(
        *block(1, 16), nn.MaxPool2d(2), *block(16, 32), nn.MaxPool2d(2), *block(32, 64), nn.MaxPool2d(2),
        *block(64, 64), nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(64, n_out),
    )


def train_and_score(size: int, n_train: int, n_test: int, findings, epochs: int) -> dict[str, float]:
    torch.manual_seed(0)
    train_c = balanced_conditions(n_train, 0, findings)
    test_c = balanced_conditions(n_test, 1, findings)
    to_tensor = lambda im: torch.from_numpy(im).float().div(127.5).sub(1).unsqueeze(1)  # noqa: E731
    x_train = to_tensor(render(train_c, np.arange(n_train, dtype=np.int64), size))
    x_test = to_tensor(render(test_c, np.arange(10**6, 10**6 + n_test, dtype=np.int64), size))
    y_train = torch.tensor((train_c[list(findings)] == 1).to_numpy(dtype=np.float32))
    y_test = (test_c[list(findings)] == 1).to_numpy()
    model = tiny_cnn(len(findings))
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    model.train()
    for _ in range(epochs):
        for batch in torch.randperm(n_train).split(64):
            loss = nn.functional.binary_cross_entropy_with_logits(model(x_train[batch]), y_train[batch])
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        scores = model(x_test).numpy()
    auroc = {name: round(roc_auc_score(y_test[:, j], scores[:, j]), 3) for j, name in enumerate(findings)}
    print(auroc)
    return auroc


@pytest.mark.slow
def test_tiny_cnn_learns_every_finding_above_chance():
    findings = tuple(f for f in FINDINGS if f != "Fracture")
    auroc = train_and_score(64, 2400, 800, findings, epochs=12)
    weak = {k: v for k, v in auroc.items() if v < ABOVE_CHANCE}
    assert not weak, f"findings not learnt above chance: {weak}"


@pytest.mark.slow
def test_tiny_cnn_learns_rib_fractures():
    """A rib fracture is a small local sign; measured 0.76 on this set (callus attenuation 0.30;
    at 0.25 the same CNN stays at 0.54, at 0.20 at 0.53: the sign is near the edge of what 1,600
    films at 64 px teach, as fractures are on real films)."""
    auroc = train_and_score(64, 1600, 800, ("Fracture",), epochs=10)
    assert auroc["Fracture"] >= ABOVE_CHANCE, auroc
