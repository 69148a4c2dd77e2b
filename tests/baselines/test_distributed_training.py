"""DDP training on a CPU with 2 processes (gloo), through accelerate: ranks agree, runs repeat,
the global batch is the one-process batch; and the batch split refuses uneven divisions."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import ddp_worker  # tests/baselines is on sys.path (no __init__.py there)
import numpy as np
import pytest
import torch

from cxrbench.baselines.distributed import Distributed
from cxrbench.errors import ConfigError

needs_accelerate = pytest.mark.skipif(not __import__("importlib").util.find_spec("accelerate"),
                                      reason="DDP tests need accelerate (pip install 'cxrbench[dist]')")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(out, repeats=1, accumulation_runs=()):
    """A 2-process CPU job of ddp_worker.run, each process in the environment torchrun gives it.

    Forked like accelerate's own debug_launcher: safe with one torch thread and no process group
    in the parent, and it saves each child re-importing torch, timm and diffusers."""
    import torch.multiprocessing as mp

    out.mkdir(parents=True)
    mp.start_processes(ddp_worker.run, args=(2, _free_port(), str(out), repeats, tuple(accumulation_runs)),
                       nprocs=2, start_method="fork")  # children inherit the imports (~12 s CPU each)
    return out


def _weights(path):
    from safetensors.torch import load_file

    return load_file(str(path))


def _assert_equal(a: dict, b: dict):
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    """The same training in this one process, without accelerate."""
    out = tmp_path_factory.mktemp("single")
    torch.set_num_threads(1)
    ddp_worker.train_both(out)
    return out


@pytest.fixture(scope="module")
def job(tmp_path_factory, single):
    """One 2-process job with two identical runs (and the DDPM with accumulation 2), plus one process."""
    root = tmp_path_factory.mktemp("ddp")
    launch(root / "ddp", repeats=2, accumulation_runs=(2,))
    return root / "ddp" / "run0", root / "ddp" / "run1", single


def _norm_sum(state: dict) -> float:
    return sum(float(t.double().norm()) for t in state.values() if t.is_floating_point())


#: What the one-process training gives (train losses per epoch of the classifier; sums of the tensor
#: norms of both models), compared within RELATIVE_TOLERANCE: across instruction sets and CPUs the
#: float kernels differ in their last bits (measured at the baseline ISA cap: 5e-6 relative at most).
GOLDEN = {"classifier_losses": [0.6368035674095154, 0.5461211204528809], "classifier_norm": 233.93305407974742,
          "ddpm_norm": 216.5653338325336}
RELATIVE_TOLERANCE = 1e-4


def test_one_process_training_matches_its_golden_values(single):
    losses = json.loads((single / "classifier-0.json").read_text())
    assert losses == pytest.approx(GOLDEN["classifier_losses"], rel=RELATIVE_TOLERANCE)
    for name, file in (("classifier_norm", "classifier-0"), ("ddpm_norm", "ddpm-acc1-0")):
        assert _norm_sum(_weights(single / f"{file}.safetensors")) == pytest.approx(GOLDEN[name], rel=RELATIVE_TOLERANCE)


@needs_accelerate
def test_ranks_hold_identical_weights(job):
    first, _, _ = job
    for name in ("classifier", "ddpm-acc1", "ddpm-acc2", "ddpm-resumed"):
        _assert_equal(_weights(first / f"{name}-0.safetensors"), _weights(first / f"{name}-1.safetensors"))


@needs_accelerate
def test_a_ddp_run_stopped_and_resumed_gives_the_weights_of_one_straight_run(job):
    first, _, _ = job
    _assert_equal(_weights(first / "ddpm-resumed-0.safetensors"), _weights(first / "ddpm-acc1-0.safetensors"))


@needs_accelerate
def test_two_runs_with_the_same_seed_and_world_size_give_the_same_weights(job):
    first, second, _ = job
    for name in ("classifier", "ddpm-acc1"):
        _assert_equal(_weights(first / f"{name}-0.safetensors"), _weights(second / f"{name}-0.safetensors"))
    assert (first / "classifier-0.json").read_text() == (second / "classifier-0.json").read_text()


@pytest.mark.slow
@needs_accelerate
def test_a_separate_launch_gives_the_same_weights(job, tmp_path):
    again = launch(tmp_path / "again") / "run0"
    first, _, _ = job
    for name in ("classifier", "ddpm-acc1"):
        _assert_equal(_weights(first / f"{name}-0.safetensors"), _weights(again / f"{name}-0.safetensors"))


def _ddpm_losses(folder):
    return np.array([float(line.split(",")[1]) for line in (folder / "loss.csv").read_text().splitlines()[1:]])


@needs_accelerate
def test_two_processes_train_on_the_one_process_global_batch(job):
    first, _, single = job
    # DDPM: each process draws the whole global batch and takes its half, so the per-step loss is
    # the one-process loss up to float reduction order (measured: 1.5e-6 relative at most, about
    # the resolution of loss.csv's 6 decimals; weights within 3e-5 after 6 steps).
    one, two = _ddpm_losses(single / "ddpm-acc1"), _ddpm_losses(first / "ddpm-acc1")
    assert len(one) == len(two) == ddp_worker.DDPM_STEPS["steps"]
    np.testing.assert_allclose(two, one, rtol=1e-5)
    # Accumulation 2 (per-process batch B/4): the same global batch again.
    np.testing.assert_allclose(_ddpm_losses(first / "ddpm-acc2"), one, rtol=1e-5)
    # Classifier: the same images and augmentations per step, BatchNorm synchronised over the
    # processes, each half's loss normalised by the global batch: the epoch losses agree to float
    # reduction order (measured below, with the weights).
    one, two = (np.array(json.loads((d / "classifier-0.json").read_text())) for d in (single, first))
    np.testing.assert_allclose(two, one, rtol=CLASSIFIER_TOLERANCE["loss"])


#: 2 processes against 1 after 16 steps of the quick recipe (cxr_tiny, 9 BatchNorms), per tensor:
#: |a - b| <= atol + rtol * max|b|. Measured: see docs/classifier.md (DDP).
CLASSIFIER_TOLERANCE = {"rtol": 1e-4, "atol": 1e-6, "loss": 1e-5}


def _tensor_gap(a: torch.Tensor, b: torch.Tensor) -> float:
    """max |a - b| relative to max |b| (floats; integer buffers must be equal)."""
    if not b.is_floating_point():
        return 0.0 if torch.equal(a, b) else float("inf")
    return float((a.double() - b.double()).abs().max() / b.double().abs().max().clamp_min(1e-12))


@needs_accelerate
def test_two_processes_train_the_one_process_classifier(job):
    first, _, single = job
    one, two = _weights(single / "classifier-0.safetensors"), _weights(first / "classifier-0.safetensors")
    assert one.keys() == two.keys()
    gaps = {key: _tensor_gap(two[key], one[key]) for key in one}
    worst = max(gaps, key=gaps.get)
    assert gaps[worst] <= CLASSIFIER_TOLERANCE["rtol"], (worst, gaps[worst])
    for key in one:  # running means and variances of every BatchNorm included
        torch.testing.assert_close(two[key], one[key], rtol=0, atol=CLASSIFIER_TOLERANCE["atol"]
                                   + CLASSIFIER_TOLERANCE["rtol"] * float(one[key].double().abs().max()))


@needs_accelerate
def test_rank_zero_alone_writes_and_the_checkpoint_records_the_layout(job):
    from safetensors import safe_open

    first, _, single = job
    listing = [sorted(p.name for p in (d / "ddpm-acc1").iterdir()) for d in (first, single)]
    assert listing[0] == listing[1]
    meta = json.loads((first / "ddpm-acc1" / ".checkpoint" / "meta.json").read_text())
    assert meta["layout"] == {"world_size": 2, "accumulation": 1}
    assert "layout" not in json.loads((single / "ddpm-acc1" / ".checkpoint" / "meta.json").read_text())
    with safe_open(str(first / "classifier-checkpoint" / "checkpoint.safetensors"), framework="pt") as f:
        assert json.loads(f.metadata()["cxrbench"])["layout"] == {"world_size": 2, "accumulation": 1}
    lines = (first / "classifier-checkpoint" / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == ddp_worker.CLASSIFIER["max_epochs"]  # one writer, one line per epoch


@needs_accelerate
def test_a_one_process_checkpoint_is_not_resumed_by_a_ddp_run(job):
    from cxrbench.baselines.classifier import get_recipe
    from cxrbench.baselines.classifier.backbones import create_backbone
    from cxrbench.baselines.classifier.checkpoint import load_checkpoint

    _, _, single = job
    recipe = get_recipe("quick", **ddp_worker.CLASSIFIER)
    with pytest.raises(ConfigError, match=r"trained with one process, this run has 2 process\(es\) × 1"):
        load_checkpoint(single / "classifier-checkpoint", create_backbone(recipe.backbone, 4), None, None, None,
                        recipe, 0, ("A", "B", "C", "D"), layout={"world_size": 2, "accumulation": 1})


class _FakeAccelerator:
    def __init__(self, world, rank):
        self.num_processes, self.process_index = world, rank


def test_micro_batches_tile_the_global_batch_disjointly():
    covered = []
    for rank in range(3):
        slices = Distributed(_FakeAccelerator(3, rank), accumulation=2).micro_batches(12)
        assert [s.stop - s.start for s in slices] == [2, 2]
        covered += [i for s in slices for i in range(s.start, s.stop)]
    assert sorted(covered) == list(range(12))
    assert Distributed().micro_batches(12) == [slice(None)]


def test_uneven_splits_are_refused_with_the_numbers():
    with pytest.raises(ConfigError, match=r"batch_size 64 cannot be split evenly over 3 process\(es\) × 1"):
        Distributed(_FakeAccelerator(3, 0)).per_process_batch(64, "batch_size")
    assert Distributed(_FakeAccelerator(4, 0), accumulation=2).per_process_batch(64, "batch_size") == 8
    with pytest.raises(ConfigError, match="at least 1"):
        Distributed.from_launch(0)


def test_one_process_needs_no_accelerate(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    dist = Distributed.from_launch(1)
    assert not dist.active and dist.is_main and dist.layout() is None and dist.stream() == ()
    monkeypatch.setenv("WORLD_SIZE", "two")
    with pytest.raises(ConfigError, match="WORLD_SIZE='two'"):
        Distributed.from_launch(1)


def _launch_cli(args, tmp_path):
    """`ACCELERATE_USE_CPU=1 torchrun --nproc-per-node 2 -m cxrbench.cli ARGS`, as docs/ddpm.md says
    (`accelerate launch --cpu` starts one process unless MPI is set up)."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": "lo", "ACCELERATE_USE_CPU": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
               "--master-port", str(_free_port()), "-m", "cxrbench.cli", *args]
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


@pytest.mark.slow
@needs_accelerate
def test_train_generator_cli_on_two_processes(tmp_path):
    out = tmp_path / "ddpm"
    stdout = _launch_cli(["train-generator", "--preset", "tiny-32", "--n-patients", "60", "--max-images", "32",
                                 "--steps", "2", "--batch-size", "8", "--warmup-steps", "1", "--checkpoint-every", "1",
                                 "--out", str(out)], tmp_path)
    assert stdout.count("training data:") == 1  # rank 0 alone reports
    assert (out / "model_index.json").exists()
    assert "DDP over 2 process(es) × 1 accumulation step(s)" in (out / "MODEL_CARD.md").read_text()
    assert json.loads((out / ".checkpoint" / "meta.json").read_text())["layout"] == {"world_size": 2, "accumulation": 1}


@pytest.mark.slow
@needs_accelerate
def test_train_classifier_cli_on_two_processes_refuses_an_uneven_split_then_trains(tmp_path):
    args = ["train-classifier", "--n-patients", "120", "--set", "max_epochs=1", "--no-progress",
            "--cache", str(tmp_path / "cache")]
    with pytest.raises(AssertionError, match="cannot be split evenly over 2 process"):
        _launch_cli([*args, "--set", "batch_size=63", "--out", str(tmp_path / "odd")], tmp_path)
    _launch_cli([*args, "--out", str(tmp_path / "clf")], tmp_path)
    config = json.loads((tmp_path / "clf" / "config.json").read_text())
    assert config["info"]["distributed"] == {"world_size": 2, "accumulation": 1,
                                             "result_depends_on_process_count": False}
    assert len((tmp_path / "clf" / "metrics.jsonl").read_text().splitlines()) == 1


@pytest.mark.slow
@needs_accelerate
def test_one_process_with_accumulation_trains_on_the_same_global_batch(single, tmp_path):
    import os
    import subprocess
    import sys

    # its own interpreter: an Accelerator leaves process-wide state that a later forked job would inherit
    code = ("import sys, torch; sys.path.insert(0, sys.argv[1]); torch.set_num_threads(1)\n"
            "import ddp_worker\nfrom cxrbench.baselines.distributed import Distributed\n"
            "ddp_worker.train_both(__import__('pathlib').Path(sys.argv[2]), Distributed.from_launch(2))\n")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("WORLD_SIZE", None)
    subprocess.run([sys.executable, "-c", code, str(Path(__file__).parent), str(tmp_path)], check=True, env=env,
                   timeout=600)
    # train_both's first DDPM folder is ddpm-acc1; here it was trained with accumulation 2
    np.testing.assert_allclose(_ddpm_losses(tmp_path / "ddpm-acc1"), _ddpm_losses(single / "ddpm-acc1"), rtol=1e-5)
    one, accumulated = (np.array(json.loads((d / "classifier-0.json").read_text())) for d in (single, tmp_path))
    np.testing.assert_allclose(accumulated, one, rtol=1e-2)
