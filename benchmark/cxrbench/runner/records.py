"""A task's outputs in the results folder: the sealed record, its per-image predictions (parquet)
beside it, and the audit's galleries; a failed rerun never replaces a complete record."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cxrbench.results import ResultRecord, record_path, write_record


def prediction_table(eval_sets, preds, base_preds, labels) -> pd.DataFrame:
    frames = []
    for model, runs in (("submission", preds), ("baseline", base_preds)):
        for seed, by_set in runs.items():
            for name, probs in by_set.items():
                rows = eval_sets[name].rows
                f = pd.DataFrame(np.asarray(probs, np.float32), columns=list(labels))
                f.insert(0, "seed", seed)
                f.insert(0, "model", model)
                f.insert(0, "patient_id", rows["patient_id"].astype(str).to_numpy())
                f.insert(0, "image_id", rows["image_id"].astype(str).to_numpy())
                f.insert(0, "eval_set", name)
                frames.append(f)
    return pd.concat(frames, ignore_index=True)


def _keeps_complete(path: Path) -> bool:
    """A complete, intact record is already at `path` (a failed rerun must not replace it)."""
    from cxrbench.results import RecordError, read_record

    try:
        return path.is_file() and read_record(path).status == "complete"
    except RecordError:
        return False


def write_outputs(out_dir: Path, record: ResultRecord, predictions: pd.DataFrame | None, *, signer=None) -> Path:
    """The record (sealed, and signed by `signer`, an evaluator key, when given) and its predictions."""
    from cxrbench.data.atomic import atomic_write

    path = record_path(out_dir, record)
    if record.smoke_limit is not None:  # a smoke test never stands where a real record does
        path = path.with_suffix(".smoke.json")
    elif record.status == "failed" and _keeps_complete(path):
        path = path.with_suffix(".failed.json")  # beside the good record, which stays
    if predictions is not None:
        ppath = path.with_suffix(".predictions.parquet")
        import hashlib
        import io

        buf = io.BytesIO()
        predictions.to_parquet(buf, index=False)
        data = buf.getvalue()
        atomic_write(ppath, lambda fh: fh.write(data))
        record.predictions_file = ppath.name
        record.predictions_sha256 = hashlib.sha256(data).hexdigest()
    write_record(record, path, signer=signer)
    return path


#: the gallery that shows eval images (synthetic films next to their nearest test films)
EVAL_GALLERY = "leakage.png"


def copy_gallery(gallery: Path | None, record_file: Path, *, withhold: tuple[str, ...] = ()) -> None:
    """The audit's PNG galleries beside the record, in `<record stem>.gallery/` (the record names
    the files relative to that folder, so it never carries a path of the machine that wrote it);
    `withhold`: galleries left out (a private eval set's films never leave the cache)."""
    import shutil

    if gallery is not None and gallery.is_dir():
        shutil.copytree(gallery, record_file.with_suffix(".gallery"), dirs_exist_ok=True,
                        ignore=lambda _, names: [n for n in names if n in withhold])
