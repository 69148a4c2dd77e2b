"""How much does one classifier run move across machines of the same kind?

Trains seed 0 of the quick recipe on phantom/supplement-0's real training rows under settings that
differ between machines and runs — CPU thread count, and the vector instruction set ATen
dispatches to (`ATEN_CPU_CAPABILITY`, e.g. default vs avx2: other rounding in convolutions) —
each in a fresh process, and prints the internal-test macro AUROC of each and the spread.

    python docs/experiments/reproducibility.py                  # the table of docs/reproducibility.md
    python docs/experiments/reproducibility.py --one 2 avx2     # (internal) one setting: threads, capability
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

SETTINGS = [(1, ""), (1, ""), (2, ""), (1, "default"), (1, "avx2")]


def one(threads: int) -> dict:
    import numpy as np
    import torch
    from rich.progress import Progress

    from cxrbench.baselines.classifier import get_recipe, train_classifier
    from cxrbench.runner.cache import Cache
    from cxrbench.runner.classify import _labeled
    from cxrbench.runner.evaluate import RunOptions, TaskRun
    from cxrbench.stats import auroc
    from cxrbench.submissions import load_submission
    from cxrbench.tasking import get_task

    torch.set_num_threads(threads)
    spec = get_task("phantom/supplement-0")
    with Progress(transient=True) as progress:
        run = TaskRun(load_submission("submissions/noise"), spec, RunOptions(budget="quick"), Cache(None), progress)
        real, val, evals, forbidden = run.data()
    labels = spec.labels
    model = train_classifier([_labeled(real, labels)], _labeled(val, labels), get_recipe("quick", image_size=32),
                             seed=0, progress=False, uncertainty_policy=spec.train_uncertainty, label_names=labels,
                             forbidden_ids=forbidden)
    test = evals["internal_test"]
    probs = model.predict(test.pixels)
    y = test.labels(labels)
    digest = __import__("hashlib").sha256(np.ascontiguousarray(probs).tobytes()).hexdigest()[:16]
    return {"threads": threads, "capability": os.environ.get("ATEN_CPU_CAPABILITY", ""),
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "macro_auroc": float(auroc(y, probs, labels=labels).macro), "predictions_sha256": digest}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--one", nargs=2, metavar=("THREADS", "CAPABILITY"))
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(int(args.one[0]))))
        return
    rows = []
    for threads, capability in SETTINGS:
        env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
        if capability:
            env["ATEN_CPU_CAPABILITY"] = capability
        out = subprocess.run([sys.executable, __file__, "--one", str(threads), capability or "-"], env=env,
                             capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
        rows.append(json.loads(out))
        print(rows[-1], flush=True)
    values = [r["macro_auroc"] for r in rows]
    print(json.dumps({"runs": rows, "spread": max(values) - min(values)}, indent=1))


if __name__ == "__main__":
    main()
