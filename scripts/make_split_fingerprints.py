"""Regenerate the committed split fingerprints in tasks/cxrbench/tasks/fingerprints/ from the real metadata.

    .venv/bin/python scripts/make_split_fingerprints.py [--shared ../shared/data]

Writes:
- chexpert-cxrbench.json: the patient-hash split of CheXpert train.csv (frontal images),
  from the real CheXpert train metadata (metadata/chexpert_train.csv.gz);
- chexpert-paper.json: the study's published CheXpert train/test lists (paper-splits/cxp_*.csv.gz);
- mimic-paper.json: the study's published MIMIC-CXR test list (paper-splits/mimic_ts.csv.gz).
Only counts, hashes and (for the hash scheme) compact patient-id ranges are written; the
metadata and lists themselves stay outside the repository.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from cxrbench.data.fingerprint import Fingerprint, committed_path
from cxrbench.data.import_split import import_split
from cxrbench.data.sources.chexpert import CheXpertSource

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared" / "data")
    args = parser.parse_args()
    shared = args.shared.resolve()

    with tempfile.TemporaryDirectory() as tmp:
        # CheXpertSource reads <root>/CheXpert-v1.0-small/train.csv(.gz); a link avoids a copy.
        layout = Path(tmp) / "CheXpert-v1.0-small"
        layout.mkdir()
        (layout / "train.csv.gz").symlink_to(shared / "metadata" / "chexpert_train.csv.gz")
        source = CheXpertSource(tmp)
        rows = source.rows()
        fp = Fingerprint.of(source.split("cxrbench"), rows,
                            note="CheXpert v1.0 train.csv, frontal images; from metadata/chexpert_train.csv.gz")
        _write(fp)

    lists = shared / "paper-splits"
    chexpert = import_split({"train": lists / "cxp_tr.csv.gz", "test": lists / "cxp_ts.csv.gz"}, "chexpert", "paper")
    _write(Fingerprint.of(chexpert, note="the study's CheXpert lists cxp_tr.csv.gz / cxp_ts.csv.gz"))
    mimic = import_split({"test": lists / "mimic_ts.csv.gz"}, "mimic", "paper")
    _write(Fingerprint.of(mimic, note="the study's MIMIC-CXR test list mimic_ts.csv.gz"))


def _write(fp: Fingerprint) -> None:
    path = committed_path(fp.source, fp.scheme)
    fp.save(path)
    print(f"{path.relative_to(REPO)}: patients {fp.patients} images {fp.images} sha256 {fp.sha256[:16]}…")


if __name__ == "__main__":
    main()
