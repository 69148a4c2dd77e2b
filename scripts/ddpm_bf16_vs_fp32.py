"""bf16 vs fp32 on a CPU with the shipped tiny-32: speed and pixel differences (DPM-Solver++ 10 steps, 64 images)."""
import sys
import time

import numpy as np
import torch

sys.path.insert(0, "tests/baselines/ddpm")
torch.set_num_threads(1)
from ddpm_helpers import condition_table

from cxrbench.baselines.ddpm import ReferenceGenerator

t=condition_table(64, seed=3); seeds=np.arange(64)
res={}
for dt in ("float32","bfloat16"):
    g=ReferenceGenerator.from_pretrained("tiny-32", steps=10, dtype=dt)
    g.generate(t.iloc[:2], seeds[:2], 32)
    t0=time.perf_counter(); res[dt]=g.generate(t, seeds, 32).astype(float); print(dt, 64/(time.perf_counter()-t0), "img/s")
d=np.abs(res["float32"]-res["bfloat16"]); print("mean", d.mean(), "p99", np.percentile(d,99), "max", d.max())
