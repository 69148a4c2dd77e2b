"""Training steps/s of the reference DDPM: this checkout against an earlier commit's training.py,
both timed in this process, interleaved, on the same data; and whether they give the same weights.

    OMP_NUM_THREADS=1 .venv/bin/python scripts/ddpm_train_speed.py --before 2850f95 [--preset tiny-32]

The earlier `training.py` is read with `git show REF:baselines/cxrbench/baselines/ddpm/training.py` and imported as a
module beside the current one (it imports the rest of the package as it is now). Prints one JSON
line: steps/s of each (best of `--rounds`), the ratio, and whether the EMA weights are identical.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from cxrbench.baselines.ddpm import training as current
from cxrbench.baselines.ddpm.conditioning import CONDITION_DIM
from cxrbench.baselines.ddpm.presets import get_preset

ROOT = Path(__file__).resolve().parents[1]


def load_before(ref: str):
    source = subprocess.run(["git", "show", f"{ref}:baselines/cxrbench/baselines/ddpm/training.py"], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp()) / "training_before.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("training_before", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="2850f95")
    parser.add_argument("--preset", default="tiny-32")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    config = get_preset(args.preset)
    rng = np.random.default_rng(0)
    n = 256
    images = rng.integers(0, 256, (n, config.image_size, config.image_size), dtype=np.uint8)
    conds = torch.from_numpy((rng.random((n, CONDITION_DIM)) > 0.8).astype(np.float32))
    modules = {"before": load_before(args.before), "after": current}
    best = {k: float("inf") for k in modules}
    weights = {}
    for _ in range(args.rounds):
        for name, module in modules.items():
            settings = module.TrainSettings(steps=args.steps, batch_size=args.batch, checkpoint_every=10**6,
                                            log_every=10)
            with tempfile.TemporaryDirectory() as out:
                start = time.perf_counter()
                model = module.train_generator(config, images, conds, settings, out, device=args.device,
                                               progress=False, log=lambda _: None)
                if args.device == "cuda":
                    torch.cuda.synchronize()
                best[name] = min(best[name], time.perf_counter() - start)
            weights[name] = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    same = all(torch.equal(weights["before"][k], weights["after"][k]) for k in weights["before"])
    rates = {k: args.steps / v for k, v in best.items()}
    print(json.dumps({"preset": args.preset, "device": args.device, "batch": args.batch, "steps": args.steps,
                      "threads": torch.get_num_threads(), "before": args.before,
                      "steps_per_s_before": round(rates["before"], 3), "steps_per_s_after": round(rates["after"], 3),
                      "ratio_after_over_before": round(rates["after"] / rates["before"], 3),
                      "identical_ema_weights": same}))
    sys.exit(0 if same or args.device != "cpu" else 1)


if __name__ == "__main__":
    main()
