"""The declared training population: required for a generator, checked on the phantom, grouped per task."""

from __future__ import annotations

from pathlib import Path

import pytest

from cxrbench.errors import SubmissionError
from cxrbench.submissions import load_submission
from cxrbench.training_population import TrainingSource, phantom_split_size, population_group

REPO = Path(__file__).resolve().parents[2]
HEAD = 'name: toy\nversion: "1"\nkind: {kind}\nentry_point: gen:Gen\n'


def _load(tmp_path, body: str, kind: str = "generator"):
    root = tmp_path / "sub"
    root.mkdir(exist_ok=True)
    (root / "submission.yaml").write_text(HEAD.format(kind=kind) + body)
    (root / "gen.py").write_text("class Gen:\n    pass\n")
    return load_submission(root)


def test_phantom_split_sizes_are_the_task_rows():
    # the quick budget's site-a population: 1,000 patients, of whom 712 (1,902 films) train
    assert phantom_split_size("site-a", 1000, "train") == (712, 1902)
    assert phantom_split_size("site-a", 5000, "train") == (3561, 9742)


def test_a_generator_must_declare_what_it_learned_from(tmp_path):
    with pytest.raises(SubmissionError, match=r"field 'training_data' is required for a generator.*"
                                              r"\{data: phantom/site-a/train, patients: 712, population: 1000\}"):
        _load(tmp_path, "")
    sub = _load(tmp_path, "training_data: []\n")  # learned from no real data: a valid declaration
    assert sub.manifest.training_population == [] and sub.manifest.training_keys == []


@pytest.mark.parametrize("body, message", [
    ("training_data: [phantom/site-a/train]\n", "'phantom/site-a/train' gives no patient count"),
    ("training_data: [{data: phantom/site-a/test, patients: 10, population: 1000}]\n",
     "entry 0: .*a test split; a model may not learn from the patients it is scored on"),
    ("training_data: [{data: phantom/site-a, patients: 10, population: 1000}]\n", "is not source/site/split"),
    ("training_data: [{data: phantom/site-a/train, patients: 712}]\n", "name the phantom population"),
    ("training_data: [{data: phantom/site-a/train, patients: 0, population: 1000}]\n", "patients"),
    ("training_data: [{data: phantom/site-a/train, patients: 800, population: 1000}]\n",
     "declares 800 patients, but that split of a 1,000-patient phantom population holds 712"),
    ("training_data: [{data: phantom/site-a/train, patients: 712, images: 2000, population: 1000}]\n",
     "declares 2,000 images.*holds 1,902"),
])
def test_bad_declarations_are_refused(tmp_path, body, message):
    with pytest.raises(SubmissionError, match=message):
        _load(tmp_path, body)


def test_a_classifier_may_give_bare_keys_but_never_a_test_split(tmp_path):
    sub = _load(tmp_path, "training_data: [phantom/site-a/train]\n", kind="classifier")
    assert sub.manifest.training_keys == ["phantom/site-a/train"] and sub.manifest.training_population == []
    with pytest.raises(SubmissionError, match="a test split"):
        _load(tmp_path, "training_data: [phantom/site-b/test]\n", kind="classifier")


def test_groups_against_the_task_rows():
    own = TrainingSource(data="phantom/site-a/train", patients=712, population=1000)
    more = TrainingSource(data="phantom/site-a/train", patients=3561, population=5000)
    allowed = ["phantom/site-a/train"]
    assert population_group([], [], allowed, 712) == "no real data"
    assert population_group([own], [own.data], allowed, 712) == "task rows"
    assert population_group([more], [more.data], allowed, 712) == "more real data"
    val = TrainingSource(data="phantom/site-a/val", patients=10, population=1000)
    assert population_group([own, val], [own.data, val.data], allowed, 712) == "outside bounds"
    assert population_group([], [own.data], allowed, 712) is None  # a bare key: no count to compare
    assert population_group([own], [own.data], allowed, None) is None


@pytest.mark.parametrize("entry", ["reference-ddpm", "reference-ddpm-5k", "reference-ddpm-fast", "label-shuffled"])
def test_shipped_ddpm_entries_declare_their_weights_population(entry):
    """A shipped entry's declaration matches the model card of the weights it loads."""
    import re

    sub = load_submission(REPO / "submissions" / entry)
    (declared,) = sub.manifest.training_population
    card = (REPO / "baselines/cxrbench/baselines/weights" / sub.manifest.reference_weights / "MODEL_CARD.md").read_text()
    assert f"| training images | {declared.images} |" in card
    patients = re.search(r"^\| training patients \| (\d+) \|$", card, flags=re.M)
    assert patients is None or int(patients.group(1)) == declared.patients  # cards written since the field exists
    assert re.search(rf"phantom\(n_patients={declared.population}, site='{declared.site}'\)", card)
    assert (declared.patients, declared.images) == phantom_split_size(declared.site, declared.population, "train")
