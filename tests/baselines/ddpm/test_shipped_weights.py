"""The shipped weights (tiny-32; tiny-32-p1k, the same preset trained on the quick tasks' own real
rows): present, matching their model card, loadable by name, and the bf16 CPU path within a stated
tolerance of fp32."""

import hashlib
import json

import numpy as np
import pytest

from cxrbench.baselines.ddpm import ReferenceGenerator
from cxrbench.baselines.ddpm.generator import WEIGHTS_ROOT
from cxrbench.baselines.ddpm.presets import PRESETS

from .ddpm_helpers import condition_table

TINY = WEIGHTS_ROOT / "tiny-32"
SHIPPED = ["tiny-32", "tiny-32-p1k"]


@pytest.mark.parametrize("name", SHIPPED)
def test_files_hash_and_config_match_the_card(name):
    folder = WEIGHTS_ROOT / name
    card = (folder / "MODEL_CARD.md").read_text()
    files = sorted(p for p in folder.rglob("*") if p.suffix in (".json", ".safetensors"))
    assert {str(p.relative_to(folder)) for p in files} == {
        "model_index.json", "scheduler/scheduler_config.json", "unet/config.json",
        "unet/diffusion_pytorch_model.safetensors", "condition_encoder/config.json",
        "condition_encoder/diffusion_pytorch_model.safetensors"}
    assert sum(p.stat().st_size for p in files) <= 25e6
    for path in files:  # every config and weights file is pinned by the card
        assert f"| `{path.relative_to(folder)}` sha256 | `{hashlib.sha256(path.read_bytes()).hexdigest()}` |" in card
    assert "cxrbench train-generator --preset tiny-32" in card
    assert "site-a" in card and "training split" in card
    config = json.loads((folder / "unet" / "config.json").read_text())
    assert {k: config[k] for k in ("sample_size", "block_out_channels")} == {
        "sample_size": 32, "block_out_channels": list(PRESETS["tiny-32"].block_out_channels)}


@pytest.mark.parametrize("name", SHIPPED)
def test_trained_on_the_current_phantom_renderer(name):
    """The card's training-pixels sha256 is what the current renderer draws for that training split:
    a renderer change that alters site-a's pixels fails here until the weights are retrained on it."""
    import re

    from cxrbench.baselines.ddpm.training_data import load_training_split

    card = (WEIGHTS_ROOT / name / "MODEL_CARD.md").read_text()
    recorded = re.search(r"training pixels sha256 \| `([0-9a-f]{64})`", card)
    assert recorded, "the model card lists no training pixels sha256"
    population = re.search(r"trained on \| phantom\(n_patients=(\d+), site='site-a'\)", card)
    assert population, "the model card does not say which phantom population it was trained on"
    data = load_training_split("phantom", 32, site="site-a", n_patients=int(population.group(1)))
    assert data.pixels_sha256 == recorded.group(1), (
        f"{name} was trained on other phantom pixels than the current renderer draws: retrain it "
        "with the command in its MODEL_CARD.md")


def test_bf16_on_cpu_stays_close_to_fp32():
    # Stated tolerance (uint8 grey levels): mean |Δ| ≤ 1, 99th percentile ≤ 4.
    table, seeds = condition_table(16, seed=4), np.arange(16, dtype=np.int64)
    fp32 = ReferenceGenerator.from_pretrained("tiny-32", steps=8, batch_size=16).generate(table, seeds, 32)
    bf16 = ReferenceGenerator.from_pretrained("tiny-32", steps=8, batch_size=16, dtype="bfloat16").generate(table, seeds, 32)
    diff = np.abs(fp32.astype(float) - bf16.astype(float))
    assert fp32.std() > 10  # real images, not a flat field
    assert diff.mean() <= 1.0 and np.percentile(diff, 99) <= 4, (diff.mean(), np.percentile(diff, 99))
    assert diff.max() > 0  # it really ran in another precision


@pytest.mark.parametrize("task", ["phantom/supplement-100", "phantom/synthetic_only-100"])
def test_own_rows_weights_saw_exactly_the_quick_tasks_real_training_rows(task):
    """tiny-32-p1k (the `reference-ddpm` entry) learned from the very rows the quick task's classifier
    trains on (or, synthetic-only, the rows its generator is conditioned on): no patient more."""
    import re

    from cxrbench.baselines.ddpm.training_data import ids_fingerprint
    from cxrbench.runner.datasets import real_rows
    from cxrbench.tasking import get_task

    card = (WEIGHTS_ROOT / "tiny-32-p1k" / "MODEL_CARD.md").read_text()
    recorded = re.search(r"data fingerprint \| sha256 of sorted training image ids: `([0-9a-f]{64})`", card).group(1)
    spec = get_task(task)
    ref = spec.real_train if spec.real_train is not None else spec.conditions_from
    budget = spec.budget("quick")
    rows = real_rows(ref, budget, max_images=budget.max_train_images)[1]
    assert (len(rows), rows["patient_id"].nunique()) == (1902, 712)
    assert ids_fingerprint(rows["image_id"].astype(str).to_numpy()) == recorded
