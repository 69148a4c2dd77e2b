"""What an offline (precomputed) submission needs from a task, written to a folder.

- a generator: the generation requests (`requests.parquet`: request_id, seed, condition columns),
  one row per image the task asks for, every replica;
- a classifier: the unlabeled eval images exactly as the runner scores them (same slices, same
  caps, same size and pixels), as `eval/<eval set>/<image_id>.png`, listed in `eval_images.parquet`
  (eval_set, image_id, file). No label, patient or demographic column leaves the scorer.

The rows come from the same functions `evaluate` uses, so a file answering them matches by id.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from cxrbench.runner.cache import Cache
from cxrbench.runner.datasets import load_real_set
from cxrbench.runner.generate import requests_for
from cxrbench.submissions.condition_mapping import PromptMapping, prompts
from cxrbench.tasking import TaskSpec

REQUESTS_FILE = "requests.parquet"
EVAL_IMAGES_FILE = "eval_images.parquet"


@dataclass
class Exported:
    requests: int  # rows in requests.parquet (0: the task uses no generator)
    eval_images: dict[str, int]  # eval set -> images written
    image_size: int


def file_name(image_id: str) -> str:
    """An id as a file name: '/' (not allowed in one) written as '__', as precomputed folders do."""
    return image_id.replace("/", "__")


def generation_requests(spec: TaskSpec, budget_name: str, cache: Cache, prompt: PromptMapping | None = None) -> pd.DataFrame:
    """Every request of the task's synthetic set: one per conditioning row and replica (with
    `synthetic_sets: per_seed`, the replicas of every seed of the budget). `prompt`: also each
    request's prompt under that mapping (column `prompt`), the text a `key: prompt` table is matched by."""
    b = spec.budget(budget_name)
    conditioning = load_real_set(spec.conditions_from, b, cache.root / "images", max_images=b.max_train_images,
                                 pixels=False)  # condition rows only: no image is rendered
    table = pd.concat([requests_for(conditioning, r, spec.generation_seed) for r in spec.replicas_for_seeds(b.seeds)],
                      ignore_index=True)
    if prompt is not None:
        table.insert(2, "prompt", prompts(table, prompt))
    return table


def write_requests(spec: TaskSpec, budget_name: str, out_dir: Path, cache: Cache,
                   prompt: PromptMapping | None = None) -> int:
    table = generation_requests(spec, budget_name, cache, prompt)
    out_dir.mkdir(parents=True, exist_ok=True)
    table.to_parquet(out_dir / REQUESTS_FILE, index=False)
    return len(table)


def write_eval_images(spec: TaskSpec, budget_name: str, out_dir: Path, cache: Cache) -> dict[str, int]:
    """The unlabeled eval images of every eval set, as PNG, and their index table."""
    from PIL import Image

    b = spec.budget(budget_name)
    rows, counts = [], {}
    for name, ref in spec.eval_sets.items():
        es = load_real_set(ref, b.for_eval_set(name), cache.root / "images", max_images=b.max_eval_images)
        folder = out_dir / "eval" / file_name(name.replace(":", "__"))
        folder.mkdir(parents=True, exist_ok=True)
        for image_id, pixels in zip(es.rows["image_id"].astype(str), es.pixels):
            rel = folder.relative_to(out_dir) / f"{file_name(image_id)}.png"
            Image.fromarray(np.asarray(pixels)).save(out_dir / rel)
            rows.append({"eval_set": name, "image_id": image_id, "file": rel.as_posix()})
        counts[name] = len(es)
    pd.DataFrame(rows, columns=["eval_set", "image_id", "file"]).to_parquet(out_dir / EVAL_IMAGES_FILE, index=False)
    return counts


def export_task(spec: TaskSpec, budget_name: str, out_dir: Path, cache: Cache) -> Exported:
    """Requests (when the task uses a generator) and unlabeled eval images, into `out_dir`."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    n_requests = write_requests(spec, budget_name, out_dir, cache) if spec.uses_generator else 0
    counts = write_eval_images(spec, budget_name, out_dir, cache)
    return Exported(requests=n_requests, eval_images=counts, image_size=spec.budget(budget_name).image_size)
