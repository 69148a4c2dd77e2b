"""Failed runs leave no `.partial` folders in the cache (Cache.discard_partials)."""

from test_evaluate import _sub

from cxrbench.runner.cache import Cache
from cxrbench.runner.evaluate import evaluate

HALFWAY = ("from cxrbench.data.phantom import render\nclass Gen:\n    calls = 0\n"
           "    def generate(self, c, s, size):\n        Gen.calls += 1\n"
           "        if Gen.calls > 1:\n            raise RuntimeError('out of memory on batch 2')\n"
           "        return render(c, s, size)\n")


def test_a_failed_generation_leaves_no_partial_folder(tiny_tasks, run_opts, tmp_path):
    sub = _sub(tmp_path, "halfway", HALFWAY)
    (sub / "submission.yaml").write_text((sub / "submission.yaml").read_text() + "batch_size: 8\n")
    run_opts.seeds = [0]
    out = evaluate(sub, ["tiny/supplement-100"], run_opts)
    assert out[0].record.status == "failed" and "out of memory on batch 2" in out[0].record.errors[0]
    leftovers = [p for p in run_opts.cache_root.rglob("*") if p.name.endswith((".partial", ".tmp"))]
    assert leftovers == []


def test_discard_partials_removes_only_the_scratch_folders_it_handed_out(tmp_path):
    cache = Cache(tmp_path)
    mine = cache.scratch("synthetic", "ab" * 32)
    (mine / "shard-00000.npy").write_bytes(b"x")
    other = tmp_path / "synthetic" / "cd" / f".{'cd' * 32}.partial"  # another run's, e.g. one killed earlier
    other.mkdir(parents=True)
    assert cache.discard_partials() == [mine]
    assert not mine.exists() and other.exists()
    assert cache.discard_partials() == []
