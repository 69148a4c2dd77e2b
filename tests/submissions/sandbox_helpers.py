"""Drive one generator submission through the real worker (shared by the sandbox test files)."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cxrbench.submissions import Limits, load_submission, run_worker
from cxrbench.submissions.bwrap import unavailable_reason

#: where bubblewrap cannot run, the plain sandbox tests exercise the --unsafe-no-sandbox path instead
SANDBOXED = unavailable_reason() is None
#: set in CI: the hostile suite then fails, instead of skipping, where bubblewrap cannot run
REQUIRE_SANDBOX = "CXRBENCH_REQUIRE_SANDBOX"


def require_sandbox() -> None:
    """Skip the calling test where bubblewrap cannot run, or fail it when CXRBENCH_REQUIRE_SANDBOX is set."""
    why = unavailable_reason()
    if why is None:
        return
    if os.environ.get(REQUIRE_SANDBOX):
        pytest.fail(f"bubblewrap cannot run here ({why}) and {REQUIRE_SANDBOX} is set")
    pytest.skip(f"bubblewrap cannot run here: {why}")


def run_generator(root: Path, *, n: int, size: int, limits: Limits, denied=(),
                  compile_cache: Path | None = None, submission=None) -> dict[str, np.ndarray]:
    """Ask for one shard `s0` of `n` images of `size`; return the checked shards that came back."""
    sub = submission or load_submission(root)
    table = pd.DataFrame({"request_id": [f"r{i}" for i in range(n)], "seed": np.arange(n, dtype=np.int64),
                          "age": np.full(n, 50.0)})
    got: dict[str, np.ndarray] = {}
    run_worker(sub, {"mode": "generate", "size": size, "shards": [{"name": "s0", "start": 0, "stop": n}]},
               {"conditions.parquet": lambda p: table.to_parquet(p)}, limits, denied=list(denied),
               outputs={"s0": (("uint8",), (n, size, size))}, on_shard=lambda name, a: got.__setitem__(name, a),
               compile_cache=compile_cache)
    return got


# ------------------------------------------------------------------ hostile generators
SIZE = 64
GEN = """
import json, os, sys
import numpy as np

def protocol_fd():
    import __main__
    return __main__._PROTOCOL.fileno()

class Gen:
    def generate(self, conditions, seeds, size):
{body}
        return np.zeros((len(seeds), size, size), np.uint8)
"""


def make_sub(root: Path, body: str) -> Path:
    """A generator submission whose `generate` runs `body` first."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "submission.yaml").write_text('name: hostile\nversion: "1"\nkind: generator\nentry_point: gen:Gen\ntraining_data: []\n')
    (root / "gen.py").write_text(GEN.format(body=textwrap.indent(textwrap.dedent(body), " " * 8)))
    return root


def run(sub_root: Path, *, n=1, timeout=20, memory_gb=16, denied=(), compile_cache=None, **limits):
    return run_generator(sub_root, n=n, size=SIZE, limits=Limits(timeout_s=timeout, memory_gb=memory_gb, **limits),
                         denied=denied, compile_cache=compile_cache)


def one_line(exc: pytest.ExceptionInfo) -> str:
    msg = str(exc.value)
    assert "\n" not in msg and "Traceback" not in msg, msg
    return msg


def decode_image(image: np.ndarray) -> dict:
    """What a probe generator packed into its image as JSON (`pack_json` in its body)."""
    import json

    return json.loads(image.reshape(-1).tobytes().rstrip(b"\0"))


def packing(body: str) -> str:
    """`body`, then return the dict `report` it built (JSON) inside the image (`decode_image` reads it)."""
    return textwrap.dedent(body) + PACK_JSON


PACK_JSON = """
blob = json.dumps(report).encode()
img = np.zeros((len(seeds), size, size), np.uint8)
img.reshape(-1)[:len(blob)] = np.frombuffer(blob, np.uint8)
return img
"""
