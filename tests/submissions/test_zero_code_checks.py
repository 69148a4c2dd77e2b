"""Zero-code submissions with bad input: each mistake is one line naming the file or field, raised
by `load_submission` before any model is loaded or any task runs."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from byom_models import FIVE, ddpm_pipeline, multi_hot_pipeline, timm_checkpoint, write_submission

from cxrbench.errors import SubmissionError
from cxrbench.schema import PATHOLOGIES
from cxrbench.submissions import load_submission

UNCOND = {"mode": "unconditional"}
OTHERS = [n for n in PATHOLOGIES if n not in ("No Finding", "Cardiomegaly")]


def diffusers_sub(root, conditioning=UNCOND, **block):
    return write_submission(root, "zero", "generator",
                            {"diffusers": {"pipeline": "pipeline", "steps": 2, "conditioning": conditioning, **block}})


@pytest.fixture(scope="module")
def ddpm_folder(tmp_path_factory):
    return ddpm_pipeline(tmp_path_factory.mktemp("ddpm") / "pipeline")


@pytest.fixture(scope="module")
def cond_folder(tmp_path_factory):
    return ddpm_pipeline(tmp_path_factory.mktemp("cond") / "pipeline", num_class_embeds=3)


def _with(tmp_path, folder):
    root = tmp_path / "sub"
    shutil.copytree(folder, root / "pipeline")
    return root


def fails(root, pattern):
    with pytest.raises(SubmissionError, match=pattern) as info:
        load_submission(root)
    assert "\n" not in str(info.value)
    return str(info.value)


def test_a_good_pipeline_folder_loads(tmp_path, ddpm_folder):
    sub = load_submission(diffusers_sub(_with(tmp_path, ddpm_folder)))
    assert sub.entry_point == "cxrbench.submissions.adapters.diffusers_generator:DiffusersGenerator"


def test_not_a_pipeline_folder(tmp_path, ddpm_folder):
    root = _with(tmp_path, ddpm_folder)
    (root / "pipeline" / "model_index.json").unlink()
    fails(diffusers_sub(root), r"pipeline: not a diffusers pipeline folder \(no model_index.json")


def test_missing_component(tmp_path, ddpm_folder):
    root = _with(tmp_path, ddpm_folder)
    shutil.rmtree(root / "pipeline" / "scheduler")
    fails(diffusers_sub(root), r"pipeline/scheduler: missing component 'scheduler' \(DDPMScheduler\)")


def test_component_without_safetensors(tmp_path, ddpm_folder):
    root = _with(tmp_path, ddpm_folder)
    (root / "pipeline" / "unet" / "diffusion_pytorch_model.safetensors").unlink()
    fails(diffusers_sub(root), r"pipeline/unet: component 'unet' \(UNet2DModel\) has no .safetensors weights")


@pytest.mark.parametrize("name", ["diffusion_pytorch_model.bin", "model.ckpt", "weights.pkl"])
def test_pickle_weights_are_refused(tmp_path, ddpm_folder, name):
    root = _with(tmp_path, ddpm_folder)
    (root / "pipeline" / "unet" / name).write_bytes(b"\x80\x04pickle")
    fails(diffusers_sub(root), rf"unet/{name}: pickle weights are never loaded")


def test_custom_code_and_foreign_libraries_are_refused(tmp_path, ddpm_folder):
    root = _with(tmp_path, ddpm_folder)
    index = json.loads((root / "pipeline" / "model_index.json").read_text())
    (root / "pipeline" / "model_index.json").write_text(json.dumps(index | {"_class_name": "MyPipeline"}))
    fails(diffusers_sub(root), r"model_index.json: _class_name 'MyPipeline' is not a pipeline class diffusers ships")
    (root / "pipeline" / "model_index.json").write_text(json.dumps(index | {"unet": ["my_models", "FancyUNet"]}))
    fails(diffusers_sub(root), r"component 'unet' comes from 'my_models'")


def test_pipeline_outside_the_submission(tmp_path, ddpm_folder):
    root = tmp_path / "sub"
    write_submission(root, "zero", "generator", {"diffusers": {"pipeline": str(ddpm_folder), "conditioning": UNCOND}})
    fails(root, r"diffusers.pipeline .* points outside the submission")


def test_prompt_template_with_an_unknown_field(tmp_path, ddpm_folder):
    root = diffusers_sub(_with(tmp_path, ddpm_folder), {"mode": "prompt", "prompt": {"template": "{view} of {diagnosis}"}})
    fails(root, r"submission.yaml: field 'diffusers.conditioning.prompt.template': .*unknown field \{diagnosis\}")


def test_prompt_mode_needs_a_text_to_image_pipeline(tmp_path, ddpm_folder):
    root = diffusers_sub(_with(tmp_path, ddpm_folder), {"mode": "prompt"})
    fails(root, r"model_index.json: DDPMPipeline takes no prompt")


def test_label_mapping_that_misses_a_task_label(tmp_path, cond_folder):
    mapping = {"encoding": "class_id", "labels": ["No Finding", "Cardiomegaly"], "unused": OTHERS[1:]}
    root = diffusers_sub(_with(tmp_path, cond_folder), {"mode": "class_labels", "class_labels": mapping})
    fails(root, rf"field 'diffusers.conditioning.class_labels': .*misses '{OTHERS[0]}'")


def test_label_mapping_that_names_an_unknown_label(tmp_path, cond_folder):
    mapping = {"encoding": "class_id", "labels": ["No Finding", "Cardiomegaly", "Heartache"], "unused": OTHERS}
    root = diffusers_sub(_with(tmp_path, cond_folder), {"mode": "class_labels", "class_labels": mapping})
    fails(root, r"'Heartache' is not a cxrbench label")


def test_modes_must_fit_the_unet(tmp_path, ddpm_folder, cond_folder):
    fails(diffusers_sub(_with(tmp_path / "a", cond_folder)), r"unet/config.json: the UNet takes class labels.*class_labels")
    mapping = {"encoding": "class_id", "labels": ["No Finding", "Cardiomegaly"], "unused": OTHERS}
    root = diffusers_sub(_with(tmp_path / "b", ddpm_folder), {"mode": "class_labels", "class_labels": mapping})
    fails(root, r"unet/config.json: num_class_embeds is None .*takes no class ids")
    mapping |= {"labels": ["No Finding", "Cardiomegaly", "Edema", "Fracture"], "unused": OTHERS[2:], }
    mapping["unused"] = [n for n in PATHOLOGIES if n not in mapping["labels"]]
    root = diffusers_sub(_with(tmp_path / "c", cond_folder), {"mode": "class_labels", "class_labels": mapping})
    fails(root, r"num_class_embeds is 3 but the label mapping uses 4 classes")
    mapping = {"encoding": "multi_hot", "labels": FIVE, "unused": [n for n in PATHOLOGIES if n not in FIVE]}
    root = diffusers_sub(_with(tmp_path / "d", cond_folder), {"mode": "class_labels", "class_labels": mapping})
    fails(root, r"a multi-hot vector of 5 label\(s\) needs a UNet whose class embedding takes 5 numbers")


def test_guidance_needs_a_null_class_and_a_known_scheduler(tmp_path, cond_folder):
    mapping = {"encoding": "class_id", "labels": ["No Finding", "Cardiomegaly"], "unused": OTHERS}
    root = diffusers_sub(_with(tmp_path, cond_folder), {"mode": "class_labels", "class_labels": mapping},
                         guidance_scale=3.0)
    fails(root, r"guidance_scale > 1 with class labels needs null_class")
    diffusers_sub(root, {"mode": "class_labels", "class_labels": mapping}, scheduler="FastScheduler")
    fails(root, r"scheduler 'FastScheduler' is not a diffusers scheduler class")


def test_a_block_must_fit_the_kind(tmp_path, ddpm_folder):
    root = _with(tmp_path, ddpm_folder)
    write_submission(root, "zero", "classifier", {"diffusers": {"pipeline": "pipeline", "conditioning": UNCOND}})
    fails(root, r"a diffusers block makes a generator")


def test_multi_hot_pipeline_is_accepted(tmp_path):
    root = tmp_path / "sub"
    multi_hot_pipeline(root / "pipeline", len(FIVE))
    mapping = {"encoding": "multi_hot", "labels": FIVE, "unused": [n for n in PATHOLOGIES if n not in FIVE]}
    load_submission(diffusers_sub(root, {"mode": "class_labels", "class_labels": mapping}))


# -- timm -------------------------------------------------------------------------------------
def timm_sub(root, **block):
    return write_submission(root, "zero-timm", "classifier", {"timm": {
        "architecture": "test_resnet", "checkpoint": "model.safetensors", "labels": FIVE, "input_size": 32,
        "channels": 1, **block}})


def test_timm_good_and_unknown_architecture(tmp_path):
    timm_checkpoint(tmp_path / "model.safetensors")
    sub = load_submission(timm_sub(tmp_path))
    assert sub.entry_point == "cxrbench.submissions.adapters.timm_classifier:TimmClassifier"
    fails(timm_sub(tmp_path, architecture="resnet1000x"), r"timm.architecture 'resnet1000x' is not a model timm")


def test_timm_checkpoint_with_wrong_shapes(tmp_path):
    timm_checkpoint(tmp_path / "model.safetensors", labels=FIVE[:3])
    fails(timm_sub(tmp_path), r"model.safetensors: tensor '.*' has shape \(3, \d+\), test_resnet with 5 label\(s\) "
                              r"and 1 channel\(s\) expects \(5, \d+\)")
    timm_checkpoint(tmp_path / "model.safetensors", channels=3)
    fails(timm_sub(tmp_path), r"tensor '.*' has shape \(\d+, 3, 3, 3\)")


def test_timm_pickle_checkpoint_and_bad_labels(tmp_path):
    timm_checkpoint(tmp_path / "model.safetensors")
    shutil.copy(tmp_path / "model.safetensors", tmp_path / "model.pth")
    fails(timm_sub(tmp_path, checkpoint="model.pth"), r"model.pth: the checkpoint must be safetensors")
    timm_checkpoint(tmp_path / "model.safetensors", labels=FIVE + ["x"])
    fails(timm_sub(tmp_path, labels=FIVE + ["Pleural Efusion"]),
          r"field 'timm': output 'Pleural Efusion' is not a cxrbench label; closest: Pleural Effusion")
    fails(timm_sub(tmp_path, labels=FIVE + ["Effusion"], label_map={"Effusion": "Pleural Efusion"}),
          r"field 'timm.label_map': label_map maps 'Effusion' to 'Pleural Efusion', which is not a cxrbench label; "
          r"closest: Pleural Effusion")
    fails(timm_sub(tmp_path, labels=FIVE + ["Effusion"], label_map={"Efusion": "Pleural Effusion"}),
          r"label_map names 'Efusion', which is not an output; closest: Effusion")
    fails(timm_sub(tmp_path, labels=FIVE + ["Effusion"], label_map={"Effusion": "Edema"}),
          r"outputs 'Edema' and 'Effusion' both predict 'Edema'")
    fails(timm_sub(tmp_path, labels=FIVE + ["x"], label_map="torchxrayvison"),
          r"unknown label map 'torchxrayvison'; shipped: torchxrayvision; closest: torchxrayvision")
    timm_checkpoint(tmp_path / "model.safetensors", labels=FIVE)
    fails(timm_sub(tmp_path, labels=["Hernia", "Mass", "Nodule", "Emphysema", "Fibrosis"]),
          r"none of the outputs \(Hernia, Mass, Nodule, Emphysema, Fibrosis\) is a cxrbench label")
    fails(timm_sub(tmp_path, mean=[0.5, 0.5], std=[0.2, 0.2]), r"field 'timm': .*mean has 2 value")


def test_timm_head_scored_on_the_task_labels_it_predicts(tmp_path):
    """A head of five labels on a 14-label task: scored on those five, in the task's order; a task of
    none of its labels is one line before anything runs."""
    from cxrbench.schema import LABEL_SETS
    from cxrbench.submissions.adapters.timm_classifier import TimmClassifier

    timm_checkpoint(tmp_path / "model.safetensors")
    sub = load_submission(timm_sub(tmp_path, labels=FIVE[::-1]))
    assert sub.scored_labels("phantom/classify", PATHOLOGIES) == tuple(n for n in PATHOLOGIES if n in FIVE)
    with pytest.raises(SubmissionError, match=r"zero-timm predicts none of task t's labels \(Fracture\); it predicts "
                                              r"Pleural Effusion, Edema"):
        sub.scored_labels("t", ("Fracture",))
    assert sub.scored_labels("t", LABEL_SETS["competition5"]) == tuple(FIVE)
    timm_sub(tmp_path)
    with pytest.raises(ValueError, match="predict no 'Pneumothorax'"):
        TimmClassifier(tmp_path, label_names=FIVE + ["Pneumothorax"])
    clf = TimmClassifier(tmp_path, label_names=FIVE[::-1])
    images = np.random.default_rng(0).integers(0, 255, (3, 40, 40), dtype=np.uint8)
    np.testing.assert_allclose(clf.predict(images), TimmClassifier(tmp_path, label_names=FIVE).predict(images)[:, ::-1])


def test_timm_fit_fields(tmp_path):
    timm_checkpoint(tmp_path / "model.safetensors")
    assert load_submission(timm_sub(tmp_path, fit=True)).manifest.timm.fit.init == "checkpoint"  # `fit: true`
    fails(timm_sub(tmp_path, fit={"init": "imagenet"}), r"field 'timm.fit.init': ")
    fails(timm_sub(tmp_path, fit={}, activation="softmax"), r"activation 'softmax' with fit: a fitted head is trained "
                                                           r"with the recipe's sigmoid loss")
    fails(timm_sub(tmp_path, checkpoint=None), r"give a checkpoint \(or fit: \{init: random\}")
    (tmp_path / "model.safetensors").unlink()
    sub = load_submission(timm_sub(tmp_path, checkpoint=None, fit={"init": "random"}))  # the architecture alone
    assert sub.may_fit and sub.parameters is None
    fails(timm_sub(tmp_path, architecture="resnet1000x", checkpoint=None, fit={"init": "random"}),
          r"timm.architecture 'resnet1000x' is not a model timm")


def test_timm_head_predicting_none_of_the_task_labels_stops_evaluate_before_anything_runs(tmp_path):
    from cxrbench.runner.evaluate import RunOptions, evaluate

    timm_checkpoint(tmp_path / "model.safetensors")
    others = ["No Finding", "Lung Lesion", "Pneumothorax", "Fracture", "Support Devices"]
    root = timm_sub(tmp_path, fit={}, labels=others)
    opts = RunOptions(out_dir=tmp_path / "runs", cache_root=tmp_path / "cache")
    with pytest.raises(SubmissionError, match=r"submission.yaml: zero-timm predicts none of task "
                                              r"phantom/classify-competition5's labels \(Atelectasis, .*\); it "
                                              r"predicts No Finding, Lung Lesion, ") as info:
        evaluate(root, ["phantom/classify-competition5"], opts)
    assert "\n" not in str(info.value) and not (tmp_path / "runs").exists() and not (tmp_path / "cache").exists()


def test_timm_fit_keeps_the_checkpoints_head_rows_for_the_task_labels(tmp_path):
    """Before training, the cut head predicts what the full head predicts for those labels."""
    import torch

    from cxrbench.baselines.classifier.loader import iterate_images
    from cxrbench.submissions.adapters.timm_classifier import TimmClassifier

    timm_checkpoint(tmp_path / "model.safetensors")
    timm_sub(tmp_path, fit={})
    clf = TimmClassifier(tmp_path, label_names=FIVE[3:] + FIVE[:1])
    images = np.random.default_rng(0).integers(0, 255, (4, 32, 32), dtype=np.uint8)
    x = next(iterate_images(images, 4, 32, "cpu"))
    cut = clf._fitted_head(clf._model(), tuple(FIVE[3:] + FIVE[:1])).eval()
    with torch.no_grad():
        np.testing.assert_allclose(cut(x).numpy(), clf.model(x)[:, [3, 4, 0]].numpy(), rtol=1e-5, atol=1e-6)


# -- precomputed tables ---------------------------------------------------------------------
def test_table_names_the_first_unmatched_request(tmp_path):
    from cxrbench.submissions.synthetic_table import table_paths

    (tmp_path / "images").mkdir()
    pd.DataFrame({"request_id": ["a#r0", "b#r0"], "img_savename": ["a.png", "b.png"]}).to_csv(tmp_path / "t.csv", index=False)
    write_submission(tmp_path, "tab", "generator", {"precomputed": {"synthetic": "images", "table": "t.csv"}})
    sub = load_submission(tmp_path)
    requests = pd.DataFrame({"request_id": ["a#r0", "c#r0", "d#r0"]})
    with pytest.raises(SubmissionError, match=r"t.csv: no row for request 'c#r0'"):
        table_paths(tmp_path, sub.manifest.precomputed, requests, tmp_path / "submission.yaml")
    write_submission(tmp_path, "tab", "generator", {"precomputed": {"synthetic": "images", "table": "t.csv",
                                                                    "key": "prompt"}})
    fails(tmp_path, r"t.csv: no column 'prompt'")


def test_a_bare_mode_is_shorthand_for_the_mapping(tmp_path, ddpm_folder):
    from cxrbench.submissions.diffusers_block import DiffusersBlock

    short = load_submission(diffusers_sub(_with(tmp_path, ddpm_folder), conditioning="unconditional"))
    assert short.manifest.diffusers.conditioning.mode == "unconditional"
    assert DiffusersBlock(pipeline="p", conditioning="unconditional") == DiffusersBlock(pipeline="p", conditioning=UNCOND)
    # a bare mode that needs a mapping still says which one
    with pytest.raises(ValueError, match="mode class_labels needs a class_labels mapping"):
        DiffusersBlock(pipeline="p", conditioning="class_labels")
    with pytest.raises(ValueError, match="'unconditional', 'class_labels' or 'prompt'"):
        DiffusersBlock(pipeline="p", conditioning="uncond")
