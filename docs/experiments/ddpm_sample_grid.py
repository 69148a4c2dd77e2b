"""Side-by-side picture: real phantom training images (top) and tiny-32 samples for the same
condition rows (bottom), upscaled 4x. `python docs/experiments/ddpm_sample_grid.py --out docs/img/ddpm_tiny32_samples.png`"""

import argparse

import numpy as np
import torch
from PIL import Image


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", default="tiny-32")
    ap.add_argument("--n", type=int, default=12)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    torch.set_num_threads(1)
    from cxrbench.baselines.ddpm import ReferenceGenerator
    from cxrbench.data.sources import get_source
    from cxrbench.data.splits import split_rows

    gen = ReferenceGenerator.from_pretrained(args.weights, steps=args.steps, batch_size=args.n)
    src = get_source("phantom", site="site-a", n_patients=1000)
    rows = split_rows(src.rows())["train"].iloc[: args.n]
    real = src.load_batch(rows, gen.image_size)
    fake = gen.generate(rows, np.arange(args.n, dtype=np.int64), gen.image_size)
    grid = np.concatenate([np.concatenate(list(real), axis=1), np.concatenate(list(fake), axis=1)], axis=0)
    Image.fromarray(grid).resize((grid.shape[1] * 4, grid.shape[0] * 4), Image.NEAREST).save(args.out)


if __name__ == "__main__":
    main()
