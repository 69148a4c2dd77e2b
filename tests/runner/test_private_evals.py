"""Private eval sets: a CSV source on the evaluator's machine scores a held-out run, and its rows,
ids and labels never reach a record, its predictions, the console or the sandbox."""

from __future__ import annotations

import io

import pandas as pd
import pytest
import yaml
from PIL import Image
from rich.console import Console

from cxrbench.errors import ConfigError
from cxrbench.leaderboard.publish import publish
from cxrbench.leaderboard.trusted_keys import add_trusted
from cxrbench.results import read_record
from cxrbench.runner.evaluate import evaluate
from cxrbench.trust.keys import new_key
from cxrbench.trust.populations import EvalPopulation, read_private_evals

SECRET = "hospital-"  # every id in the private CSV starts with it
LABELS = ("Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Pleural Effusion")
CLASSIFIER = ("import numpy as np\nclass C:\n    def predict(self, x):\n"
              "        m = x.reshape(len(x), -1).mean(axis=1) / 255.0\n        return np.tile(m[:, None], (1, 5))\n")


def _private_csv(root, *, break_one=False):
    """Phantom films of another population, exported as a hospital's CSV + PNGs with their own ids."""
    from cxrbench.data.phantom import PhantomSource

    source = PhantomSource("site-a", n_patients=60, seed=99)
    rows = source.rows()
    films = source.load_batch(rows, 64)
    table = pd.DataFrame({
        "pid": [f"{SECRET}pt-{p[-6:]}" for p in rows["patient_id"]],
        "uid": [f"{SECRET}img-{i:04d}" for i in range(len(rows))],
        "png": [f"png/{i:04d}.png" for i in range(len(rows))],
        "view": rows["view"], "sex": rows["sex"], "age": rows["age"],
        **{lab.lower().replace(" ", "_"): rows[lab].map({1.0: "1", 0.0: "0", -1.0: "-1"}).fillna("") for lab in LABELS},
    })
    (root / "png").mkdir(parents=True)
    for i, film in enumerate(films):
        if not (break_one and i == 3):
            Image.fromarray(film).save(root / f"png/{i:04d}.png")
    table.to_csv(root / "test.csv", index=False)
    (root / "mapping.yaml").write_text(yaml.safe_dump({
        "name": "hospital", "site": "hospital", "columns": {"patient_id": "pid", "path": "png", "image_id": "uid",
                                                            "view": "view", "sex": "sex", "age": "age"},
        "labels": {lab: lab.lower().replace(" ", "_") for lab in LABELS}}))
    (root / "private.yaml").write_text("internal_test: {csv: test.csv, mapping: mapping.yaml}\n")
    return root / "private.yaml", len(table), table["pid"].nunique()


@pytest.fixture
def classifier(tmp_path):
    root = tmp_path / "clf"
    root.mkdir()
    (root / "submission.yaml").write_text('name: meanpix\nversion: "1"\nkind: classifier\nentry_point: clf:C\n')
    (root / "clf.py").write_text(CLASSIFIER)
    return root


def test_private_set_scores_and_leaves_no_trace(tiny_tasks, run_opts, classifier, tmp_path):
    declared, n_images, n_patients = _private_csv(tmp_path / "secure")
    key = new_key(tmp_path / "k")
    population = EvalPopulation(key=key, held_out=True, private=read_private_evals(declared))
    run_opts.population = population
    run_opts.seeds = [0]
    log = io.StringIO()
    out = evaluate(classifier, ["tiny/classify"], run_opts, console=Console(file=log, width=200))[0]
    rec = read_record(out.path)
    assert rec.status == "complete", rec.errors
    private = rec.evaluation.private_eval_sets["internal_test"]
    assert (private.n_images, private.n_patients) == (n_images, n_patients)
    assert private.keyed_sha256 == rec.split_fingerprints["internal_test"]
    internal = next(s for s in rec.eval_sets if s.eval_set == "internal_test")
    assert internal.site == "private" and internal.n_images == n_images
    table = pd.read_parquet(out.path.parent / rec.predictions_file)
    for text in (out.path.read_text(), table.to_csv(), log.getvalue()):
        assert SECRET not in text and "hospital" not in text
    # the evaluator, holding the key and the files, rescores it; the store verifies it
    store = tmp_path / "store"
    add_trusted(store, key.public_key_b64, "the evaluator")
    report = publish([out.path], store, compare=False, populations=(population,))
    assert report.ok, report.rejected
    assert [s.standing for s in report.standings.values()] == ["verified"]


def test_an_unreadable_private_image_fails_naming_no_row(tiny_tasks, run_opts, classifier, tmp_path):
    declared, _, _ = _private_csv(tmp_path / "secure", break_one=True)
    run_opts.population = EvalPopulation(key=new_key(tmp_path / "k"), held_out=True,
                                         private=read_private_evals(declared))
    log = io.StringIO()
    out = evaluate(classifier, ["tiny/classify"], run_opts, console=Console(file=log, width=200))[0]
    assert out.record.status == "failed"
    assert "private eval set internal_test: an image cannot be read" in out.record.errors[0]
    assert SECRET not in out.path.read_text() and SECRET not in log.getvalue()


def test_private_sets_file_errors_are_one_line(tmp_path):
    bad = tmp_path / "p.yaml"
    bad.write_text("internal_test: {csv: nope.csv}\n")
    with pytest.raises(ConfigError, match="mapping"):
        read_private_evals(bad)
    bad.write_text("internal_test: {csv: nope.csv, mapping: nope.yaml}\n")
    with pytest.raises(ConfigError, match="csv file .*nope.csv not found"):
        read_private_evals(bad)
    with pytest.raises(ConfigError, match="private eval sets are held-out sets"):
        EvalPopulation(private=read_private_evals(_private_csv(tmp_path / "s")[0]))


def test_a_generators_audit_withholds_the_gallery_of_private_films(tiny_tasks, run_opts, tmp_path):
    declared, _, _ = _private_csv(tmp_path / "secure")
    gen = tmp_path / "oracle"
    gen.mkdir()
    (gen / "submission.yaml").write_text('name: oracle\nversion: "1"\nkind: generator\nentry_point: gen:Gen\n'
                                         'training_data: []\n')
    (gen / "gen.py").write_text("from cxrbench.data.phantom import render\nclass Gen:\n"
                                "    def generate(self, c, s, size):\n        return render(c, s, size)\n")
    run_opts.population = EvalPopulation(key=new_key(tmp_path / "k"), held_out=True,
                                         private=read_private_evals(declared))
    run_opts.seeds = [0]
    out = evaluate(gen, ["tiny/supplement-100"], run_opts)[0]
    assert out.record.status == "complete", out.record.errors
    assert out.record.audit["leakage"]["gallery"] is None
    gallery = out.path.with_suffix(".gallery")
    assert (gallery / "memorization.png").is_file() and not (gallery / "leakage.png").exists()
