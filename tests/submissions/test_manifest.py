"""submission.yaml validation: every mistake gets a message naming the field or file."""

import hashlib
import os
import shutil
import socket
import time
from pathlib import Path

import pytest

from cxrbench.errors import SubmissionError
from cxrbench.submissions import load_submission

REPO = Path(__file__).resolve().parents[2]
GOOD = """name: toy
version: "1"
kind: generator
entry_point: gen:Gen
training_data: []
"""


def make(tmp_path, manifest: str, files=None) -> Path:
    root = tmp_path / "sub"
    root.mkdir()
    (root / "submission.yaml").write_text(manifest)
    (root / "gen.py").write_text("class Gen:\n    pass\n")
    for name, data in (files or {}).items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


@pytest.mark.parametrize("name", ["reference-ddpm", "reference-ddpm-5k", "reference-ddpm-fast", "phantom-oracle", "noise", "label-shuffled", "reference-classifier"])
def test_shipped_examples_validate(name):
    sub = load_submission(REPO / "submissions" / name)
    assert sub.name == name and len(sub.sha256()) == 64


@pytest.mark.parametrize("manifest, message", [
    (GOOD.replace("kind: generator", "kind: painter"), "kind"),
    (GOOD.replace("gen:Gen", "gen.Gen"), "module:Class"),
    (GOOD.replace("gen:Gen", "missing:Gen"), "entry_point module 'missing' not found"),
    (GOOD.replace("name: toy", "name: Toy Model"), "name"),
    (GOOD + "colour: red\n", "colour.*unknown field"),
    (GOOD + "precomputed: {synthetic: syn/}\n", "exactly one of entry_point, precomputed, diffusers or timm"),
    ("- just\n- a list\n", "expected a mapping"),
    ("name: [", "not valid YAML"),
])
def test_bad_manifests(tmp_path, manifest, message):
    with pytest.raises(SubmissionError, match=message):
        load_submission(make(tmp_path, manifest))


def test_missing_folder_and_manifest(tmp_path):
    with pytest.raises(SubmissionError, match="not a directory"):
        load_submission(tmp_path / "nope")
    with pytest.raises(SubmissionError, match="no submission.yaml"):
        load_submission(tmp_path)


def _safetensors(**shapes) -> bytes:
    import torch
    from safetensors.torch import save

    return save({name: torch.zeros(shape) for name, shape in shapes.items()})


def test_weights_sha_checked_and_pickles_refused(tmp_path):
    data = _safetensors(w=(2, 3))
    good = hashlib.sha256(data).hexdigest()
    root = make(tmp_path, GOOD + f"weights: {{w/model.safetensors: {good}}}\n", {"w/model.safetensors": data})
    load_submission(root)
    (root / "w/model.safetensors").write_bytes(b"tampered")
    with pytest.raises(SubmissionError, match="sha256 of w/model.safetensors"):
        load_submission(root)
    shutil.rmtree(root)
    root = make(tmp_path, GOOD + f"weights: {{model.pt: {good}}}\n", {"model.pt": data})
    with pytest.raises(SubmissionError, match="must be safetensors"):
        load_submission(root)


def test_precomputed_path_must_stay_inside(tmp_path):
    manifest = GOOD.replace("entry_point: gen:Gen\n", "precomputed: {synthetic: ../../etc}\n")
    with pytest.raises(SubmissionError, match="outside the submission directory"):
        load_submission(make(tmp_path, manifest))


def test_hash_ignores_pycache_and_tracks_content(tmp_path):
    root = make(tmp_path, GOOD)
    sub = load_submission(root)
    h = sub.sha256()
    (root / "__pycache__").mkdir()
    (root / "__pycache__" / "gen.cpython-311.pyc").write_bytes(b"x")
    assert load_submission(root).sha256() == h
    (root / "gen.py").write_text("class Gen:\n    x = 1\n")
    assert sub.sha256() == h  # computed once per loaded submission: what it ran with
    assert load_submission(root).sha256() != h


GEN_MANIFEST = 'name: toy\nversion: "1"\nkind: generator\nentry_point: gen:Gen\ntraining_data: []\n'


@pytest.mark.parametrize("plant, message", [
    (lambda root: os.mkfifo(root / "pipe.npy"), "a FIFO"),
    (lambda root: os.symlink("/dev/zero", root / "zero.bin"), "leaves the submission folder"),
    (lambda root: os.symlink("/etc", root / "etc"), "leaves the submission folder"),
    (lambda root: os.symlink("../../outside.txt", root / "w" / "up.txt"), "leaves the submission folder"),
    (lambda root: _unix_socket(root / "sock"), "a socket"),
])
def test_hashing_refuses_what_it_cannot_safely_open(tmp_path, plant, message):
    root = make(tmp_path, GEN_MANIFEST, {"w/a.txt": b"x"})
    (tmp_path / "outside.txt").write_text("secret")
    plant(root)
    start = time.monotonic()
    with pytest.raises(SubmissionError, match=message) as exc:
        load_submission(root)
    assert str(root) in str(exc.value) and time.monotonic() - start < 5


def _unix_socket(path):
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(path))
    return s


def test_symlink_inside_counts_by_target_and_caps(tmp_path, monkeypatch):
    root = make(tmp_path, GEN_MANIFEST, {"w/a.txt": b"x"})
    before = load_submission(root).sha256()
    os.symlink("w/a.txt", root / "alias.txt")
    with_link = load_submission(root).sha256()
    assert with_link != before
    from cxrbench.submissions import manifest

    monkeypatch.setattr(manifest, "MAX_FILES", 2)
    with pytest.raises(SubmissionError, match="more than 2 files"):
        load_submission(root)
    monkeypatch.setattr(manifest, "MAX_FILES", 100)
    monkeypatch.setattr(manifest, "MAX_BYTES", 10)
    with pytest.raises(SubmissionError, match="GiB of files"):
        load_submission(root)


def test_parameters_are_counted_from_the_safetensors_headers_not_the_manifest(tmp_path):
    root = make(tmp_path, GOOD + "description: toy\n", {"a/x.safetensors": _safetensors(w=(4, 5), b=(5,)),
                                                          "y.safetensors": _safetensors(e=(3, 2, 2))})
    sub = load_submission(root)
    assert sub.parameter_files == {"a/x.safetensors": 25, "y.safetensors": 12} and sub.parameters == 37
    (tmp_path / "none").mkdir()
    assert load_submission(make(tmp_path / "none", GOOD)).parameters is None  # ships no weights
    (root / "submission.yaml").write_text(GOOD + "parameters: 7\n")
    with pytest.raises(SubmissionError, match="parameters.*unknown field"):
        load_submission(root)
    (root / "submission.yaml").write_text(GOOD)
    (root / "z.safetensors").write_bytes(b"not a header")
    with pytest.raises(SubmissionError, match=r"z.safetensors: unreadable safetensors file"):
        load_submission(root)


@pytest.mark.parametrize("extra, message", [
    ("paper: javascript:alert(1)\n", r"field 'paper': .*is not a plain http\(s\) URL"),
    ("links: {code: 'https://x.org/a b'}\n", r"field 'links': .*link 'code'"),
    ("links: {'[x](y)': https://x.org}\n", r"field 'links': .*link name"),
])
def test_paper_and_links_must_be_plain_http_urls(tmp_path, extra, message):
    with pytest.raises(SubmissionError, match=message):
        load_submission(make(tmp_path, GOOD + extra))
    (tmp_path / "ok").mkdir()
    good = make(tmp_path / "ok", GOOD + "paper: https://arxiv.org/abs/2401.00001\n"
                                       "links: {code: https://github.com/a/b, model card: https://huggingface.co/a/b}\n")
    assert load_submission(good).manifest.links["model card"] == "https://huggingface.co/a/b"


def test_reference_weights_preset_counts_cxrbenchs_own_files(tmp_path):
    from safetensors.torch import load_file

    from cxrbench.baselines.ddpm.generator import resolve_weights

    sub = load_submission(REPO / "submissions" / "reference-ddpm")
    name = sub.manifest.reference_weights
    folder = resolve_weights(name)
    independent = sum(t.numel() for f in ("unet", "condition_encoder")
                      for t in load_file(folder / f / "diffusion_pytorch_model.safetensors").values())
    assert sub.parameters == independent and all(k.startswith(f"cxrbench:{name}/") for k in sub.parameter_files)
    with pytest.raises(SubmissionError, match=r"submission.yaml: reference_weights 'huge-1024' is not cxrbench's shipped weights"):
        load_submission(make(tmp_path, GOOD + "reference_weights: huge-1024\n"))


def test_shipped_weights_a_submission_loads_enter_its_hash(tmp_path, monkeypatch):
    """New shipped tensors or configs give `reference_weights` entries a new content hash, so
    images cached from the old weights are never reused; the model card and loss curve do not count."""
    import shutil

    from cxrbench.baselines.ddpm import generator

    def digest() -> str:  # a fresh load: a loaded submission hashes its files once
        return load_submission(REPO / "submissions" / "reference-ddpm").sha256()

    name = load_submission(REPO / "submissions" / "reference-ddpm").manifest.reference_weights
    before = digest()
    copy = tmp_path / "weights"
    shutil.copytree(generator.WEIGHTS_ROOT, copy)
    monkeypatch.setattr(generator, "WEIGHTS_ROOT", copy)
    assert digest() == before  # the same files elsewhere: the same hash
    with open(copy / name / "MODEL_CARD.md", "a") as fh:
        fh.write("\nedited\n")
    (copy / name / "loss.csv").write_text("step,loss\n")
    assert digest() == before
    config = copy / name / "unet" / "config.json"
    config.write_text(config.read_text() + " ")
    assert digest() != before
    assert load_submission(REPO / "submissions" / "noise").manifest.reference_weights is None
