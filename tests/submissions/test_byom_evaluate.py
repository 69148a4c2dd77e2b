"""`evaluate` end to end on a tiny phantom task with zero-code submissions (no Python file in the
folder): diffusers pipelines (unconditional, class-conditional, text-to-image), a timm
checkpoint and a CheXGenBench-style precomputed table, all built here with random weights."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from byom_models import FIVE, ddpm_pipeline, stable_diffusion_pipeline, timm_checkpoint, write_submission

import cxrbench.tasking as tasking
from cxrbench.runner.evaluate import RunOptions, evaluate
from cxrbench.schema import PATHOLOGIES

pytest.importorskip("cxrbench.data.phantom")

TASK = """
name: byom/supplement
version: 1
family: supplement
description: tiny end-to-end task for zero-code submissions
profile: phantom
ratios: [0, 100]
real_train: {source: phantom, site: site-a, split: train}
conditions_from: {source: phantom, site: site-a, split: train}
val: {source: phantom, site: site-a, split: val}
eval_sets:
  internal_test: {source: phantom, site: site-a, split: test}
label_set: competition5
train_uncertainty: zeros
eligibility: {min_positive_patients: 2, min_negative_patients: 2}  # a dozen test patients
budgets:
  quick: {image_size: 32, recipe: quick, seeds: [0], n_patients: 60, max_train_images: 32,
          generator_timeout_s: 300, classifier_timeout_s: 300}
"""
# the classifier task scores all 14 labels, and its `-competition5` variant the CheXpert competition's five
CLASSIFY = (TASK.replace("name: byom/supplement", "name: byom/classify").replace("family: supplement", "family: real_only")
            .replace("ratios: [0, 100]", "ratios: [0]")
            .replace("conditions_from: {source: phantom, site: site-a, split: train}", "conditions_from: null")
            .replace("label_set: competition5", "label_set: all14\nlabel_set_variants: [competition5]"))
#: torchxrayvision's 18 outputs in its own order (xrv.datasets.default_pathologies)
XRV = ["Atelectasis", "Consolidation", "Infiltration", "Pneumothorax", "Edema", "Emphysema", "Fibrosis", "Effusion",
       "Pneumonia", "Pleural_Thickening", "Cardiomegaly", "Nodule", "Mass", "Hernia", "Lung Lesion", "Fracture",
       "Lung Opacity", "Enlarged Cardiomediastinum"]


@pytest.fixture(scope="module")
def opts(tmp_path_factory):
    """The tiny tasks, and one cache for the module: the real-only baseline is trained once."""
    folder = tmp_path_factory.mktemp("tasks")
    (folder / "byom.yaml").write_text(TASK)
    (folder / "byom-classify.yaml").write_text(CLASSIFY)
    tasking.load_tasks.cache_clear()
    real = tasking.load_tasks
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(tasking, "load_tasks", lambda folder_=None: real(str(folder)))
        root = tmp_path_factory.mktemp("run")
        yield RunOptions(budget="quick", out_dir=root / "runs", cache_root=root / "cache", profile="phantom")
    real.cache_clear()


def _synthetic(opts: RunOptions) -> np.ndarray:
    """The images of the (only) synthetic replica in the cache written last."""
    entries = sorted((opts.cache_root / "synthetic").glob("*/*/images.npy"), key=lambda p: p.stat().st_mtime)
    return np.load(entries[-1])


def _complete(outcome):
    record = outcome.record
    assert record.status == "complete", record.errors
    assert {c.eval_set for c in record.comparisons} == {"internal_test"}
    return record


def test_unconditional_ddpm_pipeline(opts, tmp_path):
    root = tmp_path / "ddpm"
    ddpm_pipeline(root / "pipeline")
    write_submission(root, "tiny-ddpm", "generator",
                     {"diffusers": {"pipeline": "pipeline", "steps": 4, "conditioning": {"mode": "unconditional"}}})
    assert not list(root.rglob("*.py"))
    _complete(evaluate(root, ["byom/supplement-100"], opts)[0])
    images = _synthetic(opts)
    assert images.dtype == np.uint8 and images.shape[1:] == (32, 32) and images.std() > 5


@pytest.mark.slow
def test_class_conditional_ddpm_pipeline_with_guidance(opts, tmp_path):
    root = tmp_path / "cond"
    ddpm_pipeline(root / "pipeline", num_class_embeds=3)
    mapping = {"encoding": "class_id", "labels": ["No Finding", "Cardiomegaly"], "null_class": 2,
               "unused": [n for n in PATHOLOGIES if n not in ("No Finding", "Cardiomegaly")]}
    write_submission(root, "tiny-cond", "generator", {"diffusers": {
        "pipeline": "pipeline", "scheduler": "DDIMScheduler", "steps": 4, "guidance_scale": 2.0,
        "conditioning": {"mode": "class_labels", "class_labels": mapping}}})
    _complete(evaluate(root, ["byom/supplement-100"], opts)[0])
    assert _synthetic(opts).std() > 5


@pytest.mark.slow
def test_text_to_image_pipeline(opts, tmp_path):
    root = tmp_path / "t2i"
    stable_diffusion_pipeline(root / "pipeline", tmp_path / "scratch")
    write_submission(root, "tiny-sd", "generator", {"diffusers": {
        "pipeline": "pipeline", "steps": 3, "guidance_scale": 4.0,
        "conditioning": {"mode": "prompt", "prompt": {"negative_prompt": "lateral view, blurry"}}}})
    _complete(evaluate(root, ["byom/supplement-100"], opts)[0])
    assert _synthetic(opts).std() > 1


def test_timm_classifier(opts, tmp_path):
    """A head of the competition's five labels: scored on the `-competition5` task, and on the five of
    the 14-label task it predicts (the baseline's predictions cut to the same five)."""
    root = tmp_path / "timm"
    timm_checkpoint(root / "model.safetensors", labels=FIVE[::-1])  # the head's own order
    write_submission(root, "tiny-timm", "classifier", {"timm": {
        "architecture": "test_resnet", "checkpoint": "model.safetensors", "labels": FIVE[::-1],
        "input_size": 32, "channels": 1, "mean": [0.5], "std": [0.25]}})
    records = {o.record.task.name: _complete(o) for o in evaluate(root, ["byom/classify-competition5", "byom/classify"],
                                                                   opts)}
    five, of14 = records["byom/classify-competition5"], records["byom/classify"]
    assert five.submission.name == "tiny-timm" and five.task.labels == five.scored_labels == FIVE
    assert len(of14.task.labels) == 14 and of14.scored_labels == [n for n in PATHOLOGIES if n in FIVE]
    table = pd.read_parquet(opts.out_dir / "phantom" / "quick" / "byom__classify@1" / "tiny-timm@1.predictions.parquet")
    assert [c for c in table.columns if c in PATHOLOGIES] == of14.scored_labels
    assert {lab.label for ev in of14.eval_sets for lab in ev.labels} <= set(FIVE)


def test_torchxrayvision_style_classifier_scored_on_its_intersection(opts, tmp_path):
    """18 outputs under torchxrayvision's names, read through the shipped label map: scored on the 11
    CheXpert labels they predict, in the task's order; 'Effusion' is Pleural Effusion."""
    root = tmp_path / "xrv"
    timm_checkpoint(root / "model.safetensors", labels=XRV)
    write_submission(root, "tiny-xrv", "classifier", {"timm": {
        "architecture": "test_resnet", "checkpoint": "model.safetensors", "labels": XRV, "label_map": "torchxrayvision",
        "input_size": 32, "channels": 1, "mean": [0.5], "std": [0.25]}})
    record = _complete(evaluate(root, ["byom/classify"], opts)[0])
    missing = {"No Finding", "Pleural Other", "Support Devices"}
    assert record.scored_labels == [n for n in PATHOLOGIES if n not in missing]
    assert record.comparisons[0].macro_labels and set(record.comparisons[0].macro_labels) <= set(record.scored_labels)
    # the same probabilities as the head's outputs, read by name
    from cxrbench.submissions.adapters.timm_classifier import TimmClassifier

    clf = TimmClassifier(root, label_names=["Pleural Effusion", "Cardiomegaly"])
    assert clf.columns == [XRV.index("Effusion"), XRV.index("Cardiomegaly")]


def test_precomputed_predictions_with_their_own_column_names(opts, tmp_path):
    """A predictions file whose columns are torchxrayvision's names (a subset, plus one it does not
    score): renamed by the map, scored on the labels it has; the record names them."""
    from cxrbench.runner.cache import Cache
    from cxrbench.runner.export import export_task
    from cxrbench.tasking import get_task

    export = tmp_path / "export"
    export_task(get_task("byom/classify"), "quick", export, Cache(opts.cache_root))
    ids = pd.read_parquet(export / "eval_images.parquet")["image_id"]
    rng = np.random.default_rng(0)
    columns = ["Effusion", "Cardiomegaly", "Hernia", "Edema"]
    table = pd.DataFrame(rng.random((len(ids), len(columns))), columns=columns)
    table.insert(0, "image_id", ids.to_numpy())
    root = tmp_path / "pre"
    root.mkdir()
    table.to_parquet(root / "preds.parquet")
    write_submission(root, "tiny-pre", "classifier",
                     {"precomputed": {"predictions": "preds.parquet", "label_map": "torchxrayvision"}})
    record = _complete(evaluate(root, ["byom/classify"], opts)[0])
    assert record.scored_labels == ["Cardiomegaly", "Edema", "Pleural Effusion"]
    saved = pd.read_parquet(opts.out_dir / "phantom" / "quick" / "byom__classify@1" / "tiny-pre@1.predictions.parquet")
    mine = saved.query("model == 'submission'").set_index("image_id")
    np.testing.assert_allclose(mine.loc[ids, "Pleural Effusion"], table["Effusion"], rtol=1e-6)


def test_timm_classifier_fitted_with_the_recipe_through_the_cli(opts, tmp_path):
    """`fit`: the block's architecture trained by the reference recipe inside the sandbox, then scored;
    run as a user runs it (`cxrbench evaluate` on a folder holding only submission.yaml and weights)."""
    from safetensors.torch import load_file
    from typer.testing import CliRunner

    from cxrbench.cli import app
    from cxrbench.results import read_record

    root = tmp_path / "timm-fit"
    timm_checkpoint(root / "model.safetensors", labels=FIVE[::-1])
    write_submission(root, "tiny-timm-fit", "classifier", {"timm": {
        "architecture": "test_resnet", "checkpoint": "model.safetensors", "labels": FIVE[::-1],
        "input_size": 32, "channels": 1, "mean": [0.5], "std": [0.25], "fit": {"init": "checkpoint"}}})
    assert sorted(p.name for p in root.iterdir()) == ["model.safetensors", "submission.yaml"]
    out = CliRunner().invoke(app, ["evaluate", str(root), "--task", "byom/classify", "--out", str(opts.out_dir),
                                   "--cache", str(opts.cache_root), "--device", "cpu", "--seeds", "3"])
    assert out.exit_code == 0, out.output
    path = opts.out_dir / "phantom" / "quick" / "byom__classify@1" / "tiny-timm-fit@1.json"
    record = read_record(path)
    assert record.status == "complete", record.errors
    assert record.submission.parameters == sum(t.numel() for t in load_file(root / "model.safetensors").values())
    # fitted on every seed of the recipe it is compared with, and paired with it seed by seed
    assert record.submission.fits and record.seeds == [0, 1, 2]
    comp = record.comparisons[0]
    assert comp.paired_seeds and (comp.n_seeds, comp.n_seeds_against) == (3, 3) and comp.dof == 2
    table = pd.read_parquet(path.with_suffix(".predictions.parquet"))
    fitted = table.query("model == 'submission' and seed == 0")
    assert table.query("model == 'submission'")["seed"].nunique() == 3

    # the same block without fit scores the checkpoint as it is: different predictions
    write_submission(root, "tiny-timm-fit", "classifier", {"timm": {
        "architecture": "test_resnet", "checkpoint": "model.safetensors", "labels": FIVE[::-1],
        "input_size": 32, "channels": 1, "mean": [0.5], "std": [0.25]}}, version="2")
    plain = evaluate(root, ["byom/classify"], opts)[0]
    as_shipped = pd.read_parquet(plain.path.with_suffix(".predictions.parquet")).query("model == 'submission'")
    assert fitted["image_id"].tolist() == as_shipped["image_id"].tolist()
    # a frozen classifier is one fixed model, and its record says so
    assert not plain.record.submission.fits and plain.record.seeds == [0]
    assert "arm A is one fixed model (a frozen classifier)" in plain.record.comparisons[0].method
    assert np.abs(fitted[FIVE].to_numpy() - as_shipped[FIVE].to_numpy()).max() > 1e-3


def test_precomputed_chexgenbench_table_matched_by_prompt(opts, tmp_path):
    """A CheXGenBench-style `prompt, img_savename` table: requests are matched by their prompt."""
    from PIL import Image

    from cxrbench.runner.datasets import load_real_set
    from cxrbench.runner.generate import requests_for
    from cxrbench.submissions.condition_mapping import PromptMapping, prompts
    from cxrbench.tasking import get_task

    task = get_task("byom/supplement-100")
    budget = task.budget("quick")
    conditioning = load_real_set(task.conditions_from, budget, opts.cache_root / "images",
                                 max_images=budget.max_train_images)  # the rows the runner conditions on
    requests = requests_for(conditioning, 0, task.generation_seed)
    texts = prompts(requests, PromptMapping(template="{findings}"))
    root = tmp_path / "table"
    (root / "images").mkdir(parents=True)
    rows = []
    for i, text in enumerate(texts[::-1]):  # table order differs from request order
        Image.fromarray(np.full((64, 64), i % 250, np.uint8)).save(root / "images" / f"{i}.png")
        rows.append({"prompt": text, "img_savename": f"{i}.png"})
    pd.DataFrame(rows).to_csv(root / "prompt_INFO.csv", index=False)
    write_submission(root, "tiny-table", "generator", {"precomputed": {
        "synthetic": "images", "table": "prompt_INFO.csv", "key": "prompt", "prompt": {"template": "{findings}"},
        "resize": "area"}})
    _complete(evaluate(root, ["byom/supplement-100"], opts)[0])
    images = _synthetic(opts)
    assert images.shape == (len(texts), 32, 32)
    # each request got an image of its own prompt: the first rows of each prompt, in request order
    by_prompt: dict[str, list[int]] = {}
    for i, text in enumerate(texts[::-1]):
        by_prompt.setdefault(text, []).append(i % 250)
    seen: dict[str, int] = {}
    expected = []
    for text in texts:
        expected.append(by_prompt[text][seen.get(text, 0)])
        seen[text] = seen.get(text, 0) + 1
    assert images[:, 16, 16].tolist() == expected


def test_timm_classifier_by_hub_id_runs_in_the_sandbox(opts, tmp_path, monkeypatch):
    """`architecture: hf-hub:org/name@revision` from a local Hub cache (offline): the parent resolves the
    snapshot before the sandbox starts, the sandbox sees it read-only, the record is complete."""
    from hub_cache import add_snapshot, timm_hub_folder

    cache = tmp_path / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    timm_checkpoint(tmp_path / "src.safetensors", labels=FIVE)
    commit = add_snapshot(cache, "cxr-lab/tiny-resnet", timm_hub_folder(tmp_path / "src", tmp_path / "src.safetensors",
                                                                        "test_resnet", len(FIVE)))
    root = tmp_path / "hub-timm"
    write_submission(root, "tiny-hub-timm", "classifier", {"timm": {
        "architecture": f"hf-hub:cxr-lab/tiny-resnet@{commit}", "labels": FIVE, "input_size": 32, "channels": 1}})
    record = _complete(evaluate(root, ["byom/classify-competition5"], opts)[0])
    assert any(name.startswith(f"hf://cxr-lab/tiny-resnet@{commit[:12]}/") for name in record.submission.parameter_files)
