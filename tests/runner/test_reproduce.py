"""`cxrbench reproduce`: a record's predictions regenerated from its task, submission and seeds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cxrbench.compare import compare_records
from cxrbench.errors import CxrbenchError
from cxrbench.reproduce import reproduce, within_contract
from cxrbench.results import RecordError, read_record
from cxrbench.runner.evaluate import evaluate

ORACLE = "from cxrbench.data.phantom import render\nclass Gen:\n    def generate(self, c, s, size):\n        return render(c, s, size)\n"
NOISE = ("import numpy as np\nclass Gen:\n    def generate(self, c, s, size):\n"
         "        return np.stack([np.random.default_rng(int(x)).integers(0, 256, (size, size), dtype=np.uint8) for x in s])\n")


def _sub(tmp_path, name, body):
    root = tmp_path / name
    root.mkdir()
    (root / "submission.yaml").write_text(f'name: {name}\nversion: "1"\nkind: generator\nentry_point: gen:Gen\n'
                                          'training_data: []\n')  # neither control learns from real rows
    (root / "gen.py").write_text(body)
    return root


def test_reproduce_restores_the_predictions_and_compare_then_works(tiny_tasks, run_opts, tmp_path):
    subs = [_sub(tmp_path, "oracle", ORACLE), _sub(tmp_path, "noise", NOISE)]
    files = [evaluate(s, ["tiny/supplement-100"], run_opts)[0].path for s in subs]
    records = [read_record(f) for f in files]
    shipped = [(f.parent / r.predictions_file).read_bytes() for f, r in zip(files, records)]
    for f, r in zip(files, records):  # as a clone has them: records without predictions
        (f.parent / r.predictions_file).unlink()
    with pytest.raises(RecordError, match="cxrbench reproduce"):
        compare_records(*records, files[0].parent, files[1].parent, files=tuple(files))
    for f, s, data, r in zip(files, subs, shipped, records):
        done = reproduce(f, submission=s, cache_root=run_opts.cache_root, unsafe_no_sandbox=run_opts.unsafe_no_sandbox)
        assert done.identical and (f.parent / r.predictions_file).read_bytes() == data
    assert [c.eval_set for c in compare_records(*records, files[0].parent, files[1].parent)] == \
        ["internal_test", "external:site-b"]
    # predictions regenerated elsewhere: other bytes, every figure within the contract's tolerance
    table = pd.read_parquet(files[0].parent / records[0].predictions_file)
    labels = list(records[0].task.labels)
    nudged = table.assign(**{n: table[n] + np.float32(1e-6) * (table.index.to_numpy() % 3) for n in labels})
    assert within_contract(records[0], nudged) is None
    broken = table.assign(**{n: np.random.default_rng(0).random(len(table)) for n in labels})
    assert "macro AUROC: record" in (why := within_contract(records[0], broken)) and "(tolerance " in why
    # a submission folder other than the record's is refused, naming both hashes
    (subs[1] / "gen.py").write_text(NOISE + "# edited\n")
    with pytest.raises(CxrbenchError, match=r"needs submission noise@1 with sha256 .*: .*\(sha256 "):
        reproduce(files[1], submission=subs[1], cache_root=run_opts.cache_root)
