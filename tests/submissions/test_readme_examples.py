"""The zero-code `submission.yaml` examples in submissions/README.md load (with tiny random-weight
models built here in place of real ones) and generate / predict through their adapters. Sizes and
step counts are cut down so the test stays fast; every other field is the README's."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from byom_models import ddpm_pipeline, stable_diffusion_pipeline, timm_checkpoint

from cxrbench.submissions import load_submission

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "baselines" / "ddpm"))
from ddpm_helpers import condition_table  # noqa: E402


def examples() -> dict[str, dict]:
    text = (REPO / "submissions" / "README.md").read_text()
    blocks = [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", text, flags=re.S)]
    return {b["name"]: b for b in blocks if isinstance(b, dict) and ("diffusers" in b or "timm" in b)}


def test_the_readme_has_the_six_examples():
    assert set(examples()) == {"my-ddpm", "my-class-ddpm", "my-t2i", "my-timm", "my-timm-fit", "my-xrv"}


@pytest.mark.parametrize("name", ["my-ddpm", "my-class-ddpm", "my-t2i"])
def test_diffusers_examples_generate(tmp_path, name):
    from cxrbench.submissions.adapters.diffusers_generator import DiffusersGenerator

    manifest = examples()[name]
    block = manifest["diffusers"]
    if name == "my-ddpm":
        ddpm_pipeline(tmp_path / block["pipeline"])
    elif name == "my-class-ddpm":
        ddpm_pipeline(tmp_path / block["pipeline"], num_class_embeds=3)
    else:
        stable_diffusion_pipeline(tmp_path / block["pipeline"], tmp_path.parent / f"{tmp_path.name}-vocab")
        block.update(height=16, width=16)
    block["steps"] = 2
    manifest["batch_size"] = 4
    (tmp_path / "submission.yaml").write_text(yaml.safe_dump(manifest))
    load_submission(tmp_path)
    images = DiffusersGenerator(tmp_path).generate(condition_table(5), np.arange(5), 32)
    assert images.dtype == np.uint8 and images.shape == (5, 32, 32) and images.std() > 0


def _timm_example(tmp_path, name: str):
    """The README's timm example `name` with a tiny timm model (test_resnet at 32 px, not resnet18 at 224)."""
    manifest = examples()[name]
    block = manifest["timm"]
    block.update(architecture="test_resnet", input_size=32)
    timm_checkpoint(tmp_path / block["checkpoint"], labels=block["labels"], channels=block["channels"])
    (tmp_path / "submission.yaml").write_text(yaml.safe_dump(manifest))
    return load_submission(tmp_path), block


def test_timm_example_predicts(tmp_path):
    from cxrbench.submissions.adapters.timm_classifier import TimmClassifier

    _, block = _timm_example(tmp_path, "my-timm")
    probs = TimmClassifier(tmp_path, label_names=block["labels"]).predict(np.zeros((3, 32, 32), np.uint8))
    assert probs.shape == (3, 5) and ((probs > 0) & (probs < 1)).all()


def test_label_mapped_example_is_scored_on_the_chexpert_labels_it_predicts(tmp_path):
    from cxrbench.schema import LABEL_SETS, PATHOLOGIES
    from cxrbench.submissions.adapters.timm_classifier import TimmClassifier

    sub, block = _timm_example(tmp_path, "my-xrv")
    assert len(block["labels"]) == 18 and block["label_map"] == "torchxrayvision"
    assert sub.scored_labels("phantom/classify-competition5", LABEL_SETS["competition5"]) == LABEL_SETS["competition5"]
    assert len(sub.scored_labels("phantom/classify", PATHOLOGIES)) == 11
    clf = TimmClassifier(tmp_path, label_names=["Pleural Effusion"])
    assert clf.columns == [block["labels"].index("Effusion")]
    assert clf.predict(np.zeros((2, 32, 32), np.uint8)).shape == (2, 1)


def test_timm_fit_example_fits_with_the_recipe_then_predicts(tmp_path):
    from cxrbench.baselines.classifier import get_recipe
    from cxrbench.submissions.adapters.timm_classifier import TimmClassifier

    sub, block = _timm_example(tmp_path, "my-timm-fit")
    assert sub.may_fit
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (24, 32, 32), dtype=np.uint8)
    labels = (rng.random((24, 5)) < 0.4).astype(np.float32)
    clf = TimmClassifier(tmp_path, label_names=block["labels"])
    before = clf.predict(images[:3])
    clf.fit(images, labels, block["labels"], recipe=get_recipe("quick", image_size=32, max_epochs=2).model_dump(),
            uncertainty_policy="zeros", seed=0)
    after = clf.predict(images[:3])
    assert after.shape == (3, 5) and ((after > 0) & (after < 1)).all() and np.abs(after - before).max() > 1e-4
