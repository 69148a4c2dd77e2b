"""The committed split fingerprints (`tasks/cxrbench/tasks/fingerprints/`), made from the real
metadata and the study's published split lists that a maintainer holds (`cxrbench data fingerprint`):

- chexpert-cxrbench: the patient-hash split of CheXpert train.csv (frontal images), from the real
  train metadata (`metadata/chexpert_train.csv.gz`);
- chexpert-paper: the study's published CheXpert train/test lists (`paper-splits/cxp_*.csv.gz`);
- mimic-paper: the study's published MIMIC-CXR test list (`paper-splits/mimic_ts.csv.gz`).

Only counts, hashes and (for the hash scheme) compact patient-id ranges enter a fingerprint; the
metadata and lists themselves stay outside the repository.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from cxrbench.data.fingerprint import Fingerprint
from cxrbench.data.import_split import import_split
from cxrbench.errors import DataError

CHEXPERT_METADATA = Path("metadata") / "chexpert_train.csv.gz"
PAPER_SPLITS = Path("paper-splits")


def reference_fingerprints(shared: Path) -> list[Fingerprint]:
    """Every committed split fingerprint, recomputed from the metadata folder `shared`."""
    from cxrbench.data.sources.chexpert import CheXpertSource

    shared = Path(shared).resolve()
    missing = [p for p in (CHEXPERT_METADATA, PAPER_SPLITS) if not (shared / p).exists()]
    if missing:
        raise DataError(f"{shared}: no {', '.join(map(str, missing))} (the real metadata and the study's split lists)")
    with tempfile.TemporaryDirectory() as tmp:
        # CheXpertSource reads <root>/CheXpert-v1.0-small/train.csv(.gz); a link avoids a copy
        layout = Path(tmp) / "CheXpert-v1.0-small"
        layout.mkdir()
        (layout / "train.csv.gz").symlink_to(shared / CHEXPERT_METADATA)
        source = CheXpertSource(tmp)
        hashed = Fingerprint.of(source.split("cxrbench"), source.rows(),
                                note=f"CheXpert v1.0 train.csv, frontal images; from {CHEXPERT_METADATA.as_posix()}")
    lists = shared / PAPER_SPLITS
    chexpert = import_split({"train": lists / "cxp_tr.csv.gz", "test": lists / "cxp_ts.csv.gz"}, "chexpert", "paper")
    mimic = import_split({"test": lists / "mimic_ts.csv.gz"}, "mimic", "paper")
    return [hashed,
            Fingerprint.of(chexpert, note="the study's CheXpert lists cxp_tr.csv.gz / cxp_ts.csv.gz"),
            Fingerprint.of(mimic, note="the study's MIMIC-CXR test list mimic_ts.csv.gz")]
