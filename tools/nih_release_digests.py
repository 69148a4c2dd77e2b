"""Write benchmark/cxrbench/data/sources/nih_releases.json: the column digests of NIH ChestX-ray14's
Data_Entry_2017_v2020.csv, against which `cxrbench data verify nih` names what a local CSV changes.

    python tools/nih_release_digests.py [PATH/Data_Entry_2017_v2020.csv(.gz)]

Default input: the copy torchxrayvision 1.5.7 ships in its package data (`pip install torchxrayvision`).
tests/data/test_nih.py recomputes it from that copy.
"""

import json
import os
import sys

from cxrbench.data.sources.nih import RELEASES_FILE, release_digests
from cxrbench.data.tables import read_table


def bundled_csv() -> str:
    import torchxrayvision

    return os.path.join(os.path.dirname(torchxrayvision.__file__), "data", "Data_Entry_2017_v2020.csv.gz")


def build(path: str) -> dict:
    return {"name": "Data_Entry_2017_v2020", "made_by": "tools/nih_release_digests.py",
            "digests": release_digests(read_table(path))}


if __name__ == "__main__":
    RELEASES_FILE.write_text(json.dumps(build(sys.argv[1] if len(sys.argv) > 1 else bundled_csv()), indent=1) + "\n")
    print(RELEASES_FILE)
