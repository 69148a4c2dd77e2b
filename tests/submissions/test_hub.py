"""Hub ids where a folder is accepted: resolved from a local Hub cache built here (no network), hashed
with the snapshot's files and commit, and one line naming the id and revision when they cannot be had."""

from __future__ import annotations

import re
import shutil

import pytest
from byom_models import FIVE, ddpm_pipeline, timm_checkpoint, write_submission
from hub_cache import add_snapshot, timm_hub_folder

from cxrbench.errors import SubmissionError
from cxrbench.submissions import load_submission


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """An offline Hub cache holding a tiny DDPM pipeline (main and an older commit) and a timm model."""
    cache = tmp_path / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    pipe = ddpm_pipeline(tmp_path / "src" / "ddpm")
    old = add_snapshot(cache, "cxr-lab/tiny-ddpm", pipe, ref=None, seed="v0")
    main = add_snapshot(cache, "cxr-lab/tiny-ddpm", pipe)
    timm_checkpoint(tmp_path / "src" / "timm.safetensors")
    timm_hub_folder(tmp_path / "src" / "timm", tmp_path / "src" / "timm.safetensors", "test_resnet", len(FIVE))
    timm_commit = add_snapshot(cache, "cxr-lab/tiny-resnet", tmp_path / "src" / "timm")
    return {"cache": cache, "main": main, "old": old, "timm": timm_commit}


def diffusers_sub(root, pipeline):
    return write_submission(root, "hub-ddpm", "generator",
                            {"diffusers": {"pipeline": pipeline, "steps": 2, "conditioning": "unconditional"}})


def test_a_pipeline_by_hub_id_resolves_offline_and_is_hashed_with_its_snapshot(hub, tmp_path):
    sub = load_submission(diffusers_sub(tmp_path / "a", "hf://cxr-lab/tiny-ddpm@main"))
    snap = sub.hub["diffusers.pipeline"]
    assert snap.commit == hub["main"] and (snap.folder / "model_index.json").is_file()
    assert any(k.startswith(f"hf://cxr-lab/tiny-ddpm@{hub['main'][:12]}/unet/") for k in sub.parameter_files)
    by_commit = load_submission(diffusers_sub(tmp_path / "b", f"hf://cxr-lab/tiny-ddpm@{hub['main']}"))
    older = load_submission(diffusers_sub(tmp_path / "c", f"hf://cxr-lab/tiny-ddpm@{hub['old']}"))
    # same files at another commit: another submission hash (the commit is part of it); the manifests differ
    # too, so compare the snapshots' own digests
    assert by_commit.hub["diffusers.pipeline"].digest() == snap.digest() != older.hub["diffusers.pipeline"].digest()
    # a changed file of the snapshot changes the submission's hash
    before = load_submission(tmp_path / "a").sha256()
    blob = next((snap.folder / "scheduler").iterdir()).resolve()
    blob.write_text(blob.read_text().replace("100", "101"))
    assert load_submission(tmp_path / "a").sha256() != before


def test_a_missing_snapshot_is_one_line_naming_the_id_revision_and_how_to_fetch(hub, tmp_path):
    with pytest.raises(SubmissionError) as info:
        load_submission(diffusers_sub(tmp_path / "a", "hf://cxr-lab/tiny-ddpm@v2.0"))
    msg = str(info.value)
    assert "\n" not in msg and "field 'diffusers.pipeline': cxr-lab/tiny-ddpm@v2.0: no local snapshot" in msg
    assert "the Hub is offline (HF_HUB_OFFLINE is set)" in msg
    assert f"the cache holds main → {hub['main'][:12]}" in msg  # what it does hold (a revision that moved)
    assert "fetch it with `hf download cxr-lab/tiny-ddpm --revision v2.0`" in msg
    with pytest.raises(SubmissionError, match=r"other-lab/none@main: no local snapshot .*`hf download other-lab/none "
                                              r"--revision main`"):
        load_submission(diffusers_sub(tmp_path / "b", "hf://other-lab/none"))
    with pytest.raises(SubmissionError, match=r"field 'diffusers.pipeline': .*'hf://no-slash' is not a Hub id: write "
                                              r"hf://org/name@revision"):
        load_submission(diffusers_sub(tmp_path / "c", "hf://no-slash"))


@pytest.mark.parametrize("error, message", [
    ("RepositoryNotFoundError", "the Hub has no repository cxr-lab/gone (or it is private"),
    ("RevisionNotFoundError", "the Hub has no revision 'deadbeef' of cxr-lab/gone (moved or deleted?)"),
])
def test_an_unknown_id_or_a_moved_revision_online(hub, tmp_path, monkeypatch, error, message):
    import huggingface_hub
    import huggingface_hub.errors as errors

    def fails(*_, **__):
        cls = getattr(errors, error)
        raise cls.__new__(cls)  # the Hub's answer (its HTTP response is not needed here)

    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setattr(huggingface_hub, "snapshot_download", fails)
    with pytest.raises(SubmissionError, match=re.escape(f"cxr-lab/gone@deadbeef: {message}")):
        load_submission(diffusers_sub(tmp_path / "a", "hf://cxr-lab/gone@deadbeef"))


def test_a_timm_model_by_hub_id_predicts_from_its_snapshot(hub, tmp_path):
    import numpy as np

    from cxrbench.submissions.adapters.timm_classifier import TimmClassifier

    root = write_submission(tmp_path / "t", "hub-timm", "classifier", {"timm": {
        "architecture": "hf-hub:cxr-lab/tiny-resnet@main", "labels": FIVE, "input_size": 32, "channels": 1}})
    sub = load_submission(root)
    snap = sub.hub["timm.architecture"]
    clf = TimmClassifier(root, label_names=FIVE, hub={"hf-hub:cxr-lab/tiny-resnet@main": str(snap.folder)})
    assert clf.predict(np.zeros((2, 32, 32), np.uint8)).shape == (2, 5)
    assert clf.model.mean.flatten().tolist() == [0.5] and clf.model.std.flatten().tolist() == [0.25]  # its config's
    bad = write_submission(tmp_path / "u", "hub-timm", "classifier", {"timm": {
        "architecture": "hf-hub:cxr-lab/tiny-resnet@main", "checkpoint": "model.safetensors", "labels": FIVE}})
    with pytest.raises(SubmissionError, match="a Hub architecture brings its own checkpoint"):
        load_submission(bad)
    shutil.rmtree(hub["cache"] / "models--cxr-lab--tiny-resnet" / "refs")
    with pytest.raises(SubmissionError, match=r"field 'timm.architecture': cxr-lab/tiny-resnet@main: no local snapshot"):
        load_submission(root)
