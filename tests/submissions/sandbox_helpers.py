"""Drive one generator submission through the real worker (shared by the sandbox test files)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cxrbench.submissions import Limits, load_submission, run_worker
from cxrbench.submissions.bwrap import unavailable_reason

#: where bubblewrap cannot run, the plain sandbox tests exercise the --unsafe-no-sandbox path instead
SANDBOXED = unavailable_reason() is None


def run_generator(root: Path, *, n: int, size: int, limits: Limits, denied=()) -> dict[str, np.ndarray]:
    """Ask for one shard `s0` of `n` images of `size`; return the checked shards that came back."""
    sub = load_submission(root)
    table = pd.DataFrame({"request_id": [f"r{i}" for i in range(n)], "seed": np.arange(n, dtype=np.int64),
                          "age": np.full(n, 50.0)})
    got: dict[str, np.ndarray] = {}
    run_worker(sub.root, sub.manifest.entry_point,
               {"mode": "generate", "size": size, "shards": [{"name": "s0", "start": 0, "stop": n}]},
               {"conditions.parquet": lambda p: table.to_parquet(p)}, limits, denied=list(denied),
               outputs={"s0": (("uint8",), (n, size, size))}, on_shard=lambda name, a: got.__setitem__(name, a))
    return got
