"""CPU time of a timm classifier's predictions, per image and for a task's eval sets (one thread).

    python scripts/timm_predict_cost.py resnet18 --sizes 32 64 224 --task phantom/classify-competition5

CPU time, not wall time: on a busy machine the wall time a timeout measures is a multiple of it.
"""

from __future__ import annotations

import argparse
import time


def cpu_ms_per_image(architecture: str, size: int, labels: int, channels: int = 1, batch: int = 128,
                     seconds: float = 4.0) -> float:
    import timm
    import torch

    model = timm.create_model(architecture, pretrained=False, num_classes=labels, in_chans=channels).eval()
    x = torch.randn(batch, channels, size, size)
    with torch.inference_mode():
        model(x)  # warm-up
        start, n = time.process_time(), 0
        while time.process_time() - start < seconds:
            model(x)
            n += batch
    return 1000 * (time.process_time() - start) / n


def eval_images(task: str, budget: str) -> int:
    from cxrbench.runner.datasets import real_rows
    from cxrbench.tasking import get_task

    spec = get_task(task)
    b = spec.budget(budget)
    return sum(len(real_rows(ref, b.for_eval_set(name), max_images=b.max_eval_images)[1])
               for name, ref in spec.eval_sets.items())


def main() -> None:
    import torch

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("architecture")
    ap.add_argument("--sizes", type=int, nargs="+", default=[32, 64])
    ap.add_argument("--labels", type=int, default=5)
    ap.add_argument("--task", default="phantom/classify-competition5")
    ap.add_argument("--budget", default="quick")
    args = ap.parse_args()
    torch.set_num_threads(1)
    n = eval_images(args.task, args.budget)
    for size in args.sizes:
        ms = cpu_ms_per_image(args.architecture, size, args.labels)
        print(f"{args.architecture} at {size} px: {ms:.2f} ms CPU per image; {n:,} eval images of {args.task} "
              f"({args.budget}): {n * ms / 1000:.0f} CPU-s")


if __name__ == "__main__":
    main()
