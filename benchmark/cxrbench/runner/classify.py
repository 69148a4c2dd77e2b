"""The train and predict stages.

- `reference_run`: train the task's classifier recipe on real and/or synthetic images for one
  seed and predict every eval set; cached by a hash of exactly those inputs, so the real-only
  baseline is trained once and shared by every task and submission that compares against it.
- `submitted_predictions`: a classifier submission's probabilities on the eval sets, from its
  sandboxed code or `timm:` block (optionally fitted on the real training split, offered the
  task's recipe) or from its precomputed file.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from cxrbench.errors import SubmissionError
from cxrbench.runner.cache import Cache, code_digest
from cxrbench.runner.datasets import RealSet
from cxrbench.runner.generate import SyntheticReplica
from cxrbench.submissions import Limits, Submission, run_worker
from cxrbench.submissions.sandbox import check_probabilities


@dataclass
class Predictions:
    """Probabilities (N, L) per eval set, aligned with that eval set's rows."""

    by_eval_set: dict[str, np.ndarray]
    key: str
    cached: bool


def _labeled(real: RealSet, labels: tuple[str, ...]):
    from cxrbench.baselines.classifier import LabeledImages

    return LabeledImages(images=real.pixels, labels=real.labels(labels),
                         image_ids=real.rows["image_id"].astype(str).to_numpy(), label_names=labels,
                         patient_ids=real.rows["patient_id"].astype(str).to_numpy())


def _synthetic_labeled(replicas: list[SyntheticReplica], labels: tuple[str, ...]):
    from cxrbench.baselines.classifier import LabeledImages

    parts = []
    for rep in replicas:
        parts.append(LabeledImages(
            images=rep.pixels, labels=rep.conditions[list(labels)].to_numpy(np.float32),
            image_ids=rep.request_ids, label_names=labels,
            condition_ids=np.array([r.rsplit("#r", 1)[0] for r in rep.request_ids])))
    return parts


def reference_run(*, real_train: RealSet | None, synthetic: list[SyntheticReplica], val: RealSet,
                  eval_sets: dict[str, RealSet], labels: tuple[str, ...], recipe_name: str, image_size: int,
                  train_uncertainty: str, seed: int, cache: Cache, forbidden_ids: np.ndarray | None = None,
                  replicas_of_real: bool = False, device: str = "cpu", train: bool = True,
                  key: str | None = None) -> Predictions | None:
    """Train the reference recipe once for this exact input and predict every eval set.

    `forbidden_ids`: image ids no training input may be (default: every eval set's). `replicas_of_real`:
    the synthetic replicas were conditioned on `real_train`'s own rows (supplement tasks), so the replica
    scheme is re-checked against it. `train=False`: return None instead of training when the run is not
    cached yet. `key`: the run's cache key when the caller has it (a planned job), else computed here.
    """
    from cxrbench.baselines.classifier import get_recipe, train_classifier

    recipe = get_recipe(recipe_name, image_size=image_size)
    if key is None:
        key = run_key(cache, real_train=real_train, synthetic_keys=[r.key for r in synthetic], val=val,
                      eval_sets=eval_sets, labels=labels, recipe_name=recipe_name, image_size=image_size, seed=seed,
                      train_uncertainty=train_uncertainty)
    if forbidden_ids is None:
        forbidden_ids = np.concatenate([es.rows["image_id"].astype(str).to_numpy() for es in eval_sets.values()])
    if not cache.has("classifier-run", key):
        if not train:
            return None
        parts = ([_labeled(real_train, labels)] if real_train is not None else []) + _synthetic_labeled(synthetic, labels)
        if replicas_of_real and real_train is not None and synthetic:
            from cxrbench.baselines.classifier.data import supplement

            # Re-check the replica scheme on the exact training set (ids, counts, labels).
            for part in parts[1:]:
                supplement(parts[0], part, 100)
        model = train_classifier(parts, _labeled(val, labels), recipe, seed=seed, device=device,
                                 forbidden_ids=forbidden_ids, progress=False,
                                 uncertainty_policy=train_uncertainty, label_names=labels)
        with cache.building("classifier-run", key, {"recipe": recipe.identity(), "seed": seed}) as tmp:
            for name, eval_set in eval_sets.items():
                probs = model.predict(eval_set.pixels)
                _save_probs(tmp / f"{_fname(name)}.parquet", eval_set, probs, labels)
            model.save(tmp / "model")
        cached = False
    else:
        cached = True
    return load_predictions(cache, "classifier-run", key, eval_sets, labels, cached)


def run_key(cache: Cache, *, real_train: RealSet | None, synthetic_keys: list[str], val: RealSet,
            eval_sets: dict[str, RealSet], labels: tuple[str, ...], recipe_name: str, image_size: int, seed: int,
            train_uncertainty: str) -> str:
    """The cache key of one reference-recipe run (`reference_run`'s inputs, replicas by their keys)."""
    from cxrbench.baselines.classifier import get_recipe

    return cache.key("classifier-run", {
        "real_train": real_train.content_key if real_train is not None else None,
        "synthetic": list(synthetic_keys), "val": val.content_key,
        "eval": {k: v.content_key for k, v in sorted(eval_sets.items())}, "labels": list(labels),
        "recipe": get_recipe(recipe_name, image_size=image_size).identity(), "seed": seed,
        "train_uncertainty": train_uncertainty, "code": code_digest("cxrbench.baselines.classifier"),
    })


def load_predictions(cache: Cache, stage: str, key: str, eval_sets: dict[str, RealSet], labels: tuple[str, ...],
                     cached: bool = True) -> Predictions:
    """The probabilities of a finished `classifier-run` or `submitted-predictions` entry, per eval set."""
    entry = cache.path(stage, key)
    out = {name: _load_probs(entry / f"{_fname(name)}.parquet", es, labels) for name, es in eval_sets.items()}
    return Predictions(out, key, cached)


def fits_on(submission: Submission, real_train: RealSet | None) -> bool:
    """Whether the benchmark trains this classifier on the task's real rows (then once per classifier
    seed, like the recipe it is compared with); otherwise it is one fixed model."""
    return real_train is not None and submission.may_fit


def submitted_predictions(submission: Submission, *, real_train: RealSet | None, eval_sets: dict[str, RealSet],
                          labels: tuple[str, ...], cache: Cache, limits: Limits, device: str = "cpu",
                          denied: tuple = (), recipe=None, train_uncertainty: str | None = None,
                          seed: int = 0, pooled: bool = False, key: str | None = None) -> Predictions:
    """A classifier submission's probabilities on each eval set (images only; labels stay here).

    `denied`: folders besides the cache that the sandbox must not see (the results folder);
    `recipe`, `train_uncertainty`: the task's reference recipe and training-label policy, offered
    to a submission that fits on `real_train` (a `timm:` block with `fit` trains with them);
    `seed`: the classifier seed it fits with (a fixed model ignores it); `pooled`: held-out sets, shown
    as one pool in a secret order (`cxrbench.runner.eval_pool`)."""
    fits = fits_on(submission, real_train)
    if key is None:
        key = submitted_key(cache, submission=submission, real_train=real_train, eval_sets=eval_sets, labels=labels,
                            recipe=recipe, train_uncertainty=train_uncertainty, seed=seed)
    if not cache.has("submitted-predictions", key):
        if submission.manifest.precomputed:
            table = _read_precomputed(submission, labels)
            out = {}
            for name, es in eval_sets.items():
                ids = es.rows["image_id"].astype(str)
                missing = ids[~ids.isin(table.index)]
                if len(missing):
                    raise SubmissionError(f"{submission.name}: predictions missing for {len(missing)} image(s) of "
                                          f"{name}, e.g. {missing.iloc[0]}")
                out[name] = check_probabilities(table.loc[ids, list(labels)].to_numpy(np.float64), len(es), len(labels),
                                                f"{submission.name} {name}")
        else:
            fit = None if not fits else {"recipe": recipe.model_dump() if recipe is not None else None,
                                         "uncertainty_policy": train_uncertainty, "seed": seed}
            out = _run_classifier(submission, real_train if fits else None, eval_sets, labels, cache, limits, device,
                                  denied, fit, pooled)
        with cache.building("submitted-predictions", key, {"submission": submission.name}) as tmp:
            for name, es in eval_sets.items():
                _save_probs(tmp / f"{_fname(name)}.parquet", es, out[name], labels)
        cached = False
    else:
        cached = True
    return load_predictions(cache, "submitted-predictions", key, eval_sets, labels, cached)


def submitted_key(cache: Cache, *, submission: Submission, real_train: RealSet | None, eval_sets: dict[str, RealSet],
                  labels: tuple[str, ...], recipe=None, train_uncertainty: str | None = None, seed: int = 0) -> str:
    """The cache key of a classifier submission's predictions (with the recipe and seed it fits with, if it fits)."""
    fits = fits_on(submission, real_train)
    return cache.key("submitted-predictions", {
        "submission": submission.sha256(), "eval": {k: v.content_key for k, v in sorted(eval_sets.items())},
        "real_train": real_train.content_key if real_train is not None else None, "labels": list(labels),
        "fit": {"recipe": recipe.identity() if recipe is not None else None, "train_uncertainty": train_uncertainty,
                "seed": seed, "code": code_digest("cxrbench.baselines.classifier")} if fits else None,
    })


def _run_classifier(submission, real_train, eval_sets, labels, cache, limits, device, denied,
                    fit_options: dict | None, pooled: bool = False) -> dict[str, np.ndarray]:
    if pooled:
        return _run_pooled(submission, real_train, eval_sets, labels, cache, limits, device, denied, fit_options)
    files, shards, names = {}, [], {}
    for i, (name, es) in enumerate(eval_sets.items()):
        shard = f"eval-{i}"
        names[shard] = name
        shards.append({"name": shard})
        files[f"{shard}.images.npy"] = (lambda p, px=es.pixels: np.save(p, np.asarray(px)))
    return _run_shards(submission, real_train, {s: len(eval_sets[n]) for s, n in names.items()}, files, shards,
                       labels, cache, limits, device, denied, fit_options, names)


def _run_pooled(submission, real_train, eval_sets, labels, cache, limits, device, denied,
                fit_options: dict | None) -> dict[str, np.ndarray]:
    """The eval sets as one shuffled pool (`eval_pool`), mapped back per eval set afterwards."""
    from cxrbench.runner.eval_pool import draw_pool

    pool = draw_pool({name: len(es) for name, es in eval_sets.items()})
    pixels = {name: es.pixels for name, es in eval_sets.items()}
    files, shards, counts = {}, [], {}
    for shard, start, stop in pool.shards():
        shards.append({"name": shard})
        counts[shard] = stop - start
        files[f"{shard}.images.npy"] = (lambda p, a=start, b=stop: np.save(p, pool.images(pixels, a, b)))
    got = _run_shards(submission, real_train, counts, files, shards, labels, cache, limits, device, denied,
                      fit_options, {shard: shard for shard in counts}, what="the held-out eval pool")
    return pool.split(np.concatenate([got[shard] for shard, _, _ in pool.shards()]))


def _run_shards(submission, real_train, counts: dict[str, int], files: dict, shards: list[dict], labels, cache,
                limits, device, denied, fit_options: dict | None, names: dict[str, str],
                what: str | None = None) -> dict[str, np.ndarray]:
    """Run the classifier's `predict` on each shard (`counts`: shard → images); outputs by `names[shard]`."""
    fit = real_train is not None
    if fit:
        files["train_images.npy"] = lambda p: np.save(p, np.asarray(real_train.pixels))
        files["train_labels.npy"] = lambda p: np.save(p, real_train.labels(labels))
    got: dict[str, np.ndarray] = {}

    def accept(shard: str, probs: np.ndarray) -> None:
        name = names[shard]
        got[name] = check_probabilities(probs.astype(np.float64), counts[shard], len(labels),
                                        f"{submission.name} {what or name}")

    from cxrbench.runner.generate import compile_cache_dir

    outputs = {shard: (("float32", "float64"), (counts[shard], len(labels))) for shard in names}
    run_worker(submission,
               {"mode": "predict", "shards": shards, "label_names": list(labels), "fit": fit, **(fit_options or {})},
               files, limits, denied=[cache.root, *denied], outputs=outputs, device=device, on_shard=accept,
               compile_cache=compile_cache_dir(cache, submission), hub=submission.hub)
    missing = [n for n in names.values() if n not in got]
    if missing:
        raise SubmissionError(f"{submission.name}: no predictions came back for {what or ', '.join(missing)}")
    return got


def _read_precomputed(submission: Submission, labels: tuple[str, ...]) -> pd.DataFrame:
    path = submission.root / submission.manifest.precomputed.predictions
    try:
        table = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    except Exception as exc:  # noqa: BLE001 - any reader failure is the file's fault
        raise SubmissionError(f"{path}: cannot read predictions ({exc})") from None
    if "image_id" not in table.columns:
        raise SubmissionError(f"{path}: no image_id column; need image_id and one column per label it predicts")
    columns = [c for c in table.columns if c != "image_id"]
    # its own column names read as the cxrbench labels they predict (`label_map`)
    predicted = dict(zip(columns, submission.predicted_labels()))
    table = table[["image_id", *(c for c, label in predicted.items() if label)]].rename(
        columns={c: label for c, label in predicted.items() if label})
    missing = [c for c in labels if c not in table.columns]
    if missing:
        raise SubmissionError(f"{path}: missing column(s) {missing}; need image_id and one column per label")
    if table["image_id"].duplicated().any():
        raise SubmissionError(f"{path}: duplicate image_id {table.loc[table['image_id'].duplicated(), 'image_id'].iloc[0]}")
    return table.set_index(table["image_id"].astype(str))


def _fname(eval_set: str) -> str:
    return eval_set.replace(":", "__").replace("/", "_")


def _save_probs(path, eval_set: RealSet, probs: np.ndarray, labels: tuple[str, ...]) -> None:
    table = pd.DataFrame(np.asarray(probs, dtype=np.float32), columns=list(labels))
    table.insert(0, "image_id", eval_set.rows["image_id"].astype(str).to_numpy())
    table.to_parquet(path, index=False)


def _load_probs(path, eval_set: RealSet, labels: tuple[str, ...]) -> np.ndarray:
    table = pd.read_parquet(path)
    cached, wanted = table["image_id"].astype(str).to_numpy(), eval_set.rows["image_id"].astype(str).to_numpy()
    if cached.shape != wanted.shape or (cached != wanted).any():
        first = int(np.argmax(cached != wanted)) if cached.shape == wanted.shape else min(len(cached), len(wanted))
        raise SubmissionError(f"{path}: cached predictions do not match the eval set's images (stale cache?): "
                              f"row {first} is {cached[first] if first < len(cached) else 'missing'!r}, the eval set's "
                              f"{wanted[first] if first < len(wanted) else 'nothing'!r}")
    return table[list(labels)].to_numpy(np.float64)
