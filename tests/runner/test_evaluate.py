"""`evaluate` end to end on a tiny phantom task: records, caching, resume, failures, controls."""

import io
import json
import shutil

import numpy as np
import pytest
from rich.console import Console

from cxrbench.results import read_record
from cxrbench.runner.evaluate import evaluate

#: what a test submission declares it learned from, by kind
TRAINED_ON = {"generator": "[{data: phantom/site-a/train, patients: 712, population: 1000}]",
              "classifier": "[phantom/site-a/train]"}


def _sub(tmp_path, name, body, kind="generator", entry="gen:Gen"):
    root = tmp_path / name
    root.mkdir()
    (root / "submission.yaml").write_text(f'name: {name}\nversion: "1"\nkind: {kind}\nentry_point: {entry}\n'
                                          f'training_data: {TRAINED_ON[kind]}\n')
    (root / entry.split(":")[0].replace(".", "/")).with_suffix(".py").write_text(body)
    return root


ORACLE = "from cxrbench.data.phantom import render\nclass Gen:\n    def generate(self, c, s, size):\n        return render(c, s, size)\n"


def test_oracle_generator_end_to_end_then_cached(tiny_tasks, run_opts, tmp_path):
    sub = _sub(tmp_path, "oracle", ORACLE)
    out = evaluate(sub, ["tiny/supplement-0", "tiny/supplement-100"], run_opts)
    assert [o.record.status for o in out] == ["complete", "complete"], [o.record.errors for o in out]
    base, supp = (o.record for o in out)
    assert supp.task.baseline == "tiny/supplement-0" and supp.seeds == [0, 1]
    assert {s.eval_set for s in supp.eval_sets} == {"internal_test", "external:site-b"}
    assert {c.eval_set for c in supp.comparisons} == {"internal_test", "external:site-b"}
    assert all(len(c.labels) == len(c.macro_labels) >= 1 for c in supp.comparisons)
    assert [c.endpoint for c in supp.comparisons] == ["primary", "secondary"]
    assert base.comparisons == [] and base.audit is None
    # what it learned from, beside what the task's own rows hold: 712 patients against 120 drawn here
    s = supp.submission
    assert s.declared_training_data == ["phantom/site-a/train"] and s.real_patients == 712
    assert 0 < s.task_real_patients < 120 and s.data_group == "more real data"
    assert supp.task.more_real_data == "separate"
    assert supp.audit["leakage_flag"] is False and supp.audit["fidelity"]["frechet_distance"] > 0
    # the baseline inside the supplement record is the same model as the baseline task's record
    b_int = next(s for s in base.eval_sets if s.eval_set == "internal_test").macro_auroc
    c_int = next(c for c in supp.comparisons if c.eval_set == "internal_test")
    assert any(lab.baseline_auroc is not None for lab in c_int.labels)
    assert abs((c_int.delta or 0) - ((supp.macro("internal_test") or 0) - b_int)) < 1e-9
    # the sealed record reads back and its predictions sit beside it
    rec = read_record(out[1].path)
    assert (out[1].path.parent / rec.predictions_file).is_file()
    # the audit's galleries sit beside the record, which names them by file name only (portable)
    assert supp.audit["memorization"]["gallery"] == "memorization.png"
    assert (out[1].path.with_suffix(".gallery") / "memorization.png").read_bytes()[:4] == b"\x89PNG"
    # a rerun is served from the cache and gives identical numbers; a non-terminal console (a CI
    # log) gets one line per finished stage instead of a progress bar drawn only at the end
    log = io.StringIO()
    again = evaluate(sub, ["tiny/supplement-100"], run_opts, console=Console(file=log, width=200))[0].record
    assert "tiny/supplement-100 · generate replica 0 done in" in log.getvalue() and "(cached)" in log.getvalue()
    # two seeds: it runs, but says before it starts that no significance will be reported, and why
    assert "WARNING: 2 classifier seed(s): tiny/supplement-100 will report Δ without a p-value" in log.getvalue()
    assert all(c.p_value is None and c.verdict_reason.startswith("too few seeds (2)") for c in supp.comparisons)
    assert all(t.cached for t in again.timings if t.stage in ("generate", "train+predict"))
    assert again.eval_sets == supp.eval_sets and again.comparisons == supp.comparisons
    # what generating the set cost is measured when it is made and carried by the record that reuses it
    made, = supp.generation
    assert (made.replica, made.images, made.reused) == (0, supp.audit["n_synthetic"], False)
    assert made.seconds > 0 and made.images_per_second == pytest.approx(made.images / made.seconds, rel=1e-3)
    assert made.device == "CPU (1 thread)" and made.generated_at[:4] == supp.created_at[:4]
    reused, = again.generation
    assert reused.reused and reused.model_dump(exclude={"reused"}) == made.model_dump(exclude={"reused"})


def test_crashing_generator_fails_its_task_only(tiny_tasks, run_opts, tmp_path):
    """A generator that fails every replica ends its tasks as failed before any training: the
    baseline runs only they needed are never started, and the log says the error once per job."""
    sub = _sub(tmp_path, "crashy", "class Gen:\n    def generate(self, c, s, size):\n        raise RuntimeError('boom')\n")
    log = io.StringIO()
    out = evaluate(sub, ["tiny/supplement-100", "tiny/supplement-200"], run_opts, console=Console(file=log, width=300))
    assert [o.record.status for o in out] == ["failed", "failed"]
    assert "RuntimeError: boom" in out[0].record.errors[0]
    assert json.loads(out[1].path.read_text())["status"] == "failed"
    assert not list((run_opts.cache_root / "classifier-run").glob("*/*")), "a baseline was trained"
    text = log.getvalue()
    assert " train " not in text and "real-only baseline" not in text, text
    assert text.count("boom") <= 2 + 2, text  # the first failed replica's line and each task's failure line


def test_nan_predictions_from_a_classifier_are_refused(tiny_tasks, run_opts, tmp_path):
    body = "import numpy as np\nclass C:\n    def predict(self, x):\n        p = np.full((len(x), 5), 0.5)\n        p[0, 0] = np.nan\n        return p\n"
    sub = _sub(tmp_path, "nanny", body, kind="classifier", entry="clf:C")
    rec = evaluate(sub, ["tiny/classify"], run_opts)[0].record
    assert rec.status == "failed" and "NaN" in rec.errors[0]


def test_resume_after_a_kill_reuses_finished_shards(tiny_tasks, run_opts, tmp_path, monkeypatch):
    """A generator killed midway leaves finished shards; the rerun generates only the rest."""
    body = ("import os, numpy as np\nfrom cxrbench.data.phantom import render\n"
            "class Gen:\n    def generate(self, c, s, size):\n"
            "        log = os.path.join(os.environ['HOME'], 'calls')\n"
            "        if os.environ.get('CXRB_TEST_DIE') and int(s[0]) % 2 == 0:\n            os._exit(9)\n"
            "        return render(c, s, size)\n")
    run_opts.seeds = [0]
    sub = _sub(tmp_path, "flaky", body)
    (sub / "submission.yaml").write_text((sub / "submission.yaml").read_text() + "batch_size: 8\n")
    from cxrbench.runner import generate as gen_mod

    calls = []
    real_run = gen_mod.run_worker
    monkeypatch.setattr(gen_mod, "run_worker", lambda *a, **k: (calls.append(len(a[1]["shards"])), real_run(*a, **k))[1])
    rec = evaluate(sub, ["tiny/supplement-100"], run_opts)[0].record
    assert rec.status == "complete" and len(calls) == 1
    total_shards = calls[0]
    # drop the finished entry but keep a partial scratch with half the shards → only the rest is generated
    cache = run_opts.cache_root / "synthetic"
    entry = next(p for p in cache.glob("*/*") if p.is_dir() and not p.name.startswith("."))
    scratch = entry.parent / f".{entry.name}.partial"
    scratch.mkdir()
    images = np.load(entry / "images.npy")
    for i in range(total_shards // 2):
        np.save(scratch / f"shard-{i:05d}.npy", images[i * 8:(i + 1) * 8])
    shutil.rmtree(entry)
    calls.clear()
    rec2 = evaluate(sub, ["tiny/supplement-100"], run_opts)[0].record
    assert calls == [total_shards - total_shards // 2]
    assert rec2.eval_sets == rec.eval_sets
    # the cost measured on resuming counts only the images that run made
    assert rec2.generation[0].images == len(images) - (total_shards // 2) * 8 < rec.generation[0].images


def test_precomputed_generator_and_classifier(tiny_tasks, run_opts, tmp_path):
    """Offline submissions: a synthetic image folder answering the exported requests, and a predictions file."""
    from PIL import Image

    from cxrbench.data.phantom import render
    from cxrbench.runner.cache import Cache
    from cxrbench.runner.datasets import CONDITION_COLUMNS, load_real_set
    from cxrbench.runner.generate import requests_for
    from cxrbench.tasking import get_task

    spec = get_task("tiny/supplement-100")
    b = spec.budget("quick")
    conditioning = load_real_set(spec.conditions_from, b, Cache(run_opts.cache_root).root / "images")
    requests = requests_for(conditioning, 0, spec.generation_seed)
    gen = tmp_path / "offline-gen"
    (gen / "synthetic" / "images").mkdir(parents=True)
    images = render(requests[list(CONDITION_COLUMNS)], requests["seed"].to_numpy(), b.image_size)
    for rid, im in zip(requests["request_id"], images):
        Image.fromarray(im).save(gen / "synthetic" / "images" / f"{rid.replace('/', '__')}.png")
    (gen / "submission.yaml").write_text('name: offline-gen\nversion: "1"\nkind: generator\ntraining_data: []\n'
                                         'precomputed: {synthetic: synthetic}\n')
    rec = evaluate(gen, ["tiny/supplement-100"], run_opts)[0].record
    assert rec.status == "complete", rec.errors
    # a missing image is named
    first = next((gen / "synthetic" / "images").iterdir())
    first.unlink()
    run_opts.force = True
    rec = evaluate(gen, ["tiny/supplement-100"], run_opts)[0].record
    assert rec.status == "failed" and "requested synthetic image missing" in rec.errors[0]

    clf = tmp_path / "offline-clf"
    clf.mkdir()
    ids = []
    cls = get_task("tiny/classify")
    for ref in cls.eval_sets.values():
        ids += load_real_set(ref, b, Cache(run_opts.cache_root).root / "images").rows["image_id"].astype(str).tolist()
    import pandas as pd

    preds = pd.DataFrame(np.random.default_rng(0).random((len(ids), len(cls.labels))), columns=list(cls.labels))
    preds.insert(0, "image_id", ids)
    preds.to_parquet(clf / "preds.parquet")
    (clf / "submission.yaml").write_text('name: offline-clf\nversion: "1"\nkind: classifier\n'
                                         'precomputed: {predictions: preds.parquet}\n')
    run_opts.force = False
    run_opts.seeds = [0]
    rec = evaluate(clf, ["tiny/classify"], run_opts)[0].record
    assert rec.status == "complete", rec.errors
    comp = next(c for c in rec.comparisons if c.eval_set == "internal_test")
    assert comp.against.startswith("reference recipe")
    # the file's rows were matched by image_id: the score is that of those exact predictions
    from cxrbench.stats import auroc

    internal = load_real_set(cls.eval_sets["internal_test"], b, Cache(run_opts.cache_root).root / "images")
    mine = preds.set_index("image_id").loc[internal.rows["image_id"].astype(str), list(cls.labels)].to_numpy()
    score = next(s for s in rec.eval_sets if s.eval_set == "internal_test")
    keep = [cls.labels.index(n) for n in score.macro_labels]
    assert keep and rec.macro("internal_test") == pytest.approx(
        auroc(internal.labels(cls.labels)[:, keep], mine[:, keep]).macro)


def test_precomputed_generator_as_a_datasets_folder(tiny_tasks, run_opts, tmp_path):
    datasets = pytest.importorskip("datasets")
    from PIL import Image

    from cxrbench.data.phantom import render
    from cxrbench.runner.cache import Cache
    from cxrbench.runner.datasets import CONDITION_COLUMNS, load_real_set
    from cxrbench.runner.generate import requests_for
    from cxrbench.tasking import get_task

    spec = get_task("tiny/supplement-100")
    b = spec.budget("quick")
    conditioning = load_real_set(spec.conditions_from, b, Cache(run_opts.cache_root).root / "images")
    requests = requests_for(conditioning, 0, spec.generation_seed)
    images = render(requests[list(CONDITION_COLUMNS)], requests["seed"].to_numpy(), b.image_size)
    sub = tmp_path / "hf-gen"
    ds = datasets.Dataset.from_dict({"request_id": list(requests["request_id"])[::-1],
                                     "image": [Image.fromarray(im) for im in images[::-1]]},
                                    features=datasets.Features({"request_id": datasets.Value("string"),
                                                                "image": datasets.Image()}))
    ds.save_to_disk(str(sub / "synthetic"))
    (sub / "submission.yaml").write_text('name: hf-gen\nversion: "1"\nkind: generator\ntraining_data: []\nprecomputed: {synthetic: synthetic}\n')
    run_opts.seeds = [0]
    rec = evaluate(sub, ["tiny/supplement-100"], run_opts)[0].record
    assert rec.status == "complete", rec.errors
    # rows were matched by request_id (the folder is in reverse order): same cache entry as the renders
    cache = run_opts.cache_root / "synthetic"
    stored = np.load(next(p for p in cache.glob("*/*/images.npy")))
    np.testing.assert_array_equal(stored, images)


def test_parallel_runs_give_the_same_predictions(tiny_tasks, run_opts, tmp_path):
    """--jobs 2 trains the seeds in two worker processes while the (sandboxed) generation runs on
    this process's job thread: byte-identical predictions and the same comparisons as a serial run."""
    sub = _sub(tmp_path, "oracle", ORACLE)
    serial = evaluate(sub, ["tiny/supplement-100"], run_opts)[0]
    run_opts.jobs, run_opts.cache_root, run_opts.out_dir = 2, tmp_path / "cache2", tmp_path / "runs2"
    parallel = evaluate(sub, ["tiny/supplement-100"], run_opts)[0]
    assert parallel.record.status == "complete", parallel.record.errors
    assert parallel.record.predictions_sha256 == serial.record.predictions_sha256
    assert parallel.record.eval_sets == serial.record.eval_sets
    assert parallel.record.comparisons == serial.record.comparisons


PER_SEED = """
synthetic_sets: per_seed
baseline_family: tiny/supplement
"""


def test_per_seed_synthetic_sets_give_each_seed_its_own_replica(tiny_tasks, run_opts, tmp_path):
    """`synthetic_sets: per_seed`: classifier seed s trains on replica s (for 100%), so seed 0's run
    is the shared design's very run and seed 1's is new; the record lists both replicas' costs."""
    import cxrbench.tasking as tasking
    from cxrbench.runner.cache import Cache
    from cxrbench.runner.export import generation_requests

    text = (tiny_tasks / "tiny.yaml").read_text().replace("name: tiny/supplement", "name: tiny/persets").replace("ratios: [0, 100, 200]", "ratios: [100]")
    (tiny_tasks / "persets.yaml").write_text(text + PER_SEED)
    spec = tasking.get_task("tiny/persets-100")
    assert spec.replicas_for_seed(0) == [0] and spec.replicas_for_seed(1) == [1]
    assert tasking.get_task("tiny/supplement-200").replicas_for_seed(1) == [0, 1]
    sub = _sub(tmp_path, "oracle", ORACLE)
    shared = evaluate(sub, ["tiny/supplement-100"], run_opts)[0].record
    log = io.StringIO()
    per_seed = evaluate(sub, ["tiny/persets-100"], run_opts, console=Console(file=log, width=200))[0].record
    assert per_seed.status == "complete", per_seed.errors
    lines = log.getvalue().splitlines()

    def line(what):
        return next(x for x in lines if f"tiny/persets-100 · {what} done in" in x)

    assert "(cached)" in line("generate replica 0") and "(cached)" not in line("generate replica 1")
    assert "(cached)" in line("train seed 0") and "(cached)" not in line("train seed 1")
    assert [g.replica for g in per_seed.generation] == [0, 1] and [g.replica for g in shared.generation] == [0]
    assert per_seed.seeds == shared.seeds == [0, 1]
    first = lambda rec: next(c for c in rec.comparisons if c.endpoint == "primary")  # noqa: E731
    assert first(per_seed).delta != first(shared).delta  # seed 1 trained on other images
    # a precomputed generator is asked for every seed's set
    requests = generation_requests(spec, "quick", Cache(run_opts.cache_root))
    assert sorted({r.rsplit("#r", 1)[1] for r in requests["request_id"]}) == ["0", "1"]
    assert requests["request_id"].is_unique and requests["seed"].is_unique
