"""Time the shipped tiny-32 generator on a CPU the way the demo uses it.

    python docs/experiments/ddpm_cpu_speed.py --n 256 --configs dpmpp-2m:10:float32:1,dpmpp-2m:10:bfloat16:1
Prints images/s and the extrapolated seconds for 2,000 images for each sampler:steps:dtype:threads.
"""

import argparse
import time

import numpy as np
import torch


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=256)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--configs", default="dpmpp-2m:10:float32:1")
    args = ap.parse_args()
    from cxrbench.baselines.ddpm import ReferenceGenerator
    from cxrbench.data.phantom import sample_conditions

    conditions = sample_conditions(args.n, site="site-a", seed=0)
    seeds = np.arange(args.n, dtype=np.int64)
    for config in args.configs.split(","):
        sampler, steps, dtype, threads = config.split(":")
        torch.set_num_threads(int(threads))
        gen = ReferenceGenerator.from_pretrained("tiny-32", sampler=sampler, steps=int(steps), dtype=dtype,
                                                 batch_size=args.batch_size)
        gen.generate(conditions.iloc[:4], seeds[:4], 32)  # warm-up
        start = time.perf_counter()
        gen.generate(conditions, seeds, 32)
        seconds = time.perf_counter() - start
        print(f"{config:28s} {args.n / seconds:7.1f} img/s  {2000 / args.n * seconds:6.1f} s per 2000 images",
              flush=True)


if __name__ == "__main__":
    main()
