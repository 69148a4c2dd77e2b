"""`cxrbench tasks export`: what an offline submission needs, exactly as the runner will score it."""

import numpy as np
import pandas as pd
from PIL import Image
from typer.testing import CliRunner

from cxrbench.cli import app
from cxrbench.runner.cache import Cache
from cxrbench.runner.datasets import load_real_set
from cxrbench.runner.generate import requests_for
from cxrbench.tasking import get_task


def test_export_classifier_task_writes_unlabeled_eval_images(tiny_tasks, tmp_path):
    out = tmp_path / "export"
    res = CliRunner().invoke(app, ["tasks", "export", "tiny/classify", "--out", str(out), "--cache", str(tmp_path / "cache")],
                             env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    index = pd.read_parquet(out / "eval_images.parquet")
    assert list(index.columns) == ["eval_set", "image_id", "file"]  # no label, patient or demographic column
    assert not (out / "requests.parquet").exists()  # the classify task uses no generator
    spec = get_task("tiny/classify")
    b = spec.budget("quick")
    for name, ref in spec.eval_sets.items():
        es = load_real_set(ref, b, Cache(tmp_path / "cache").root / "images", max_images=b.max_eval_images)
        mine = index[index["eval_set"] == name]
        assert mine["image_id"].tolist() == es.rows["image_id"].astype(str).tolist()  # the ids predictions must use
        for i in (0, len(es) - 1):
            png = np.asarray(Image.open(out / mine["file"].iloc[i]))
            np.testing.assert_array_equal(png, es.pixels[i])  # the pixels the runner's worker gets
    assert f"{len(index)} eval images" in res.output and "no labels" in res.output


def test_export_generator_task_adds_the_requests(tiny_tasks, tmp_path):
    out = tmp_path / "export"
    res = CliRunner().invoke(app, ["tasks", "export", "tiny/supplement-200", "--out", str(out),
                                   "--cache", str(tmp_path / "cache")], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    spec = get_task("tiny/supplement-200")
    b = spec.budget("quick")
    conditioning = load_real_set(spec.conditions_from, b, Cache(tmp_path / "cache").root / "images",
                                 max_images=b.max_train_images)
    expected = pd.concat([requests_for(conditioning, r, spec.generation_seed) for r in range(spec.replicas)],
                         ignore_index=True)
    got = pd.read_parquet(out / "requests.parquet")
    pd.testing.assert_frame_equal(got, expected)
    assert spec.replicas == 2 and len(got) == 2 * len(conditioning)
    assert (out / "eval_images.parquet").is_file()


def test_requests_with_prompts_then_a_table_of_another_template_is_refused_before_training(tiny_tasks, run_opts,
                                                                                          tmp_path):
    """`tasks requests --prompts` writes each request's prompt; a `key: prompt` table whose prompts follow
    another template is refused when the task is planned (nothing trains), naming the template it uses."""
    from cxrbench.runner.evaluate import evaluate
    from cxrbench.submissions.condition_mapping import DEFAULT_TEMPLATE, PromptMapping, prompts

    out = tmp_path / "export"
    res = CliRunner().invoke(app, ["tasks", "requests", "tiny/supplement-100", "--out", str(out), "--prompts",
                                   "--template", "{findings}", "--cache", str(run_opts.cache_root)],
                             env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    got = pd.read_parquet(out / "requests.parquet")
    assert list(got.columns[:3]) == ["request_id", "seed", "prompt"]
    assert got["prompt"].tolist() == prompts(got, PromptMapping(template="{findings}"))
    assert "prompts under '{findings}'" in res.output
    bad = CliRunner().invoke(app, ["tasks", "requests", "tiny/supplement-100", "--out", str(out), "--template", "x"])
    assert bad.exit_code != 0 and "add --prompts" in str(bad.exception)

    # a CheXGenBench-style table written with the default (report-style) template ...
    root = tmp_path / "table"
    (root / "images").mkdir(parents=True)
    report = prompts(got, PromptMapping(template=DEFAULT_TEMPLATE))
    for i in range(len(got)):
        Image.fromarray(np.full((32, 32), i % 250, np.uint8)).save(root / "images" / f"{i}.png")
    pd.DataFrame({"prompt": report, "img_savename": [f"{i}.png" for i in range(len(got))]}).to_csv(
        root / "prompt_INFO.csv", index=False)
    (root / "submission.yaml").write_text(
        'name: tabled\nversion: "1"\nkind: generator\ntraining_data: []\n'
        'precomputed: {synthetic: images, table: prompt_INFO.csv, key: prompt, prompt: {template: "{findings}"}}\n')
    # ... declared as matched under "{findings}": refused while planning, before any job runs
    record = evaluate(root, ["tiny/supplement-100"], run_opts)[0].record
    assert record.status == "failed"
    message = record.errors[0]
    assert "none of its" in message and "under template '{findings}'" in message
    assert f"seems to use {{template: {DEFAULT_TEMPLATE!r}}}" in message
    assert not list((run_opts.cache_root / "classifier-run").glob("*/*"))
