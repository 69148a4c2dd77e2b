import importlib.util

import numpy as np
import pandas as pd
import pytest

from cxrbench.data.tables import check_unique, find_file, parse_labels, read_table, require_columns
from cxrbench.errors import DataError, SchemaError


def test_unreadable_tables_are_one_clear_error(tmp_path):
    (tmp_path / "ragged.csv").write_text("a,b\n1,2\n3,4,5\n")
    with pytest.raises(DataError, match=r"ragged.csv: cannot parse .*Expected 2 columns, got 3"):
        read_table(tmp_path / "ragged.csv")
    (tmp_path / "bad.csv.gz").write_bytes(b"not gzip at all")
    with pytest.raises(DataError, match=r"bad.csv.gz: cannot parse"):
        read_table(tmp_path / "bad.csv.gz")
    with pytest.raises(DataError, match=r"absent.csv: file not found"):
        read_table(tmp_path / "absent.csv")


@pytest.mark.skipif(importlib.util.find_spec("openpyxl") is not None, reason="openpyxl is installed")
def test_xlsx_without_openpyxl_says_what_to_do(tmp_path):
    import zipfile

    with zipfile.ZipFile(tmp_path / "demo.xlsx", "w") as workbook:  # what pandas recognises as xlsx
        workbook.writestr("[Content_Types].xml", "<Types/>")
        workbook.writestr("xl/workbook.xml", "<workbook/>")
    with pytest.raises(DataError, match=r"demo.xlsx: reading Excel files needs openpyxl .* or save the sheet as CSV"):
        read_table(tmp_path / "demo.xlsx")


def test_a_broken_workbook_is_one_clear_error(tmp_path):
    (tmp_path / "broken.xlsx").write_bytes(b"PK\x03\x04 not really a workbook")
    with pytest.raises(DataError, match=r"broken.xlsx: "):
        read_table(tmp_path / "broken.xlsx")


def test_find_file_prefers_plain_then_gz_and_names_what_it_tried(tmp_path):
    (tmp_path / "x.csv.gz").write_bytes(b"")
    assert find_file(tmp_path, ("x.csv",), "x") == tmp_path / "x.csv.gz"
    (tmp_path / "x.csv").write_text("")
    assert find_file(tmp_path, ("x.csv",), "x") == tmp_path / "x.csv"
    assert find_file(tmp_path, ("y.csv",), "y", required=False) is None
    with pytest.raises(DataError, match=r"labels not found \(looked for y.csv\(.gz\), z.csv\(.gz\)\)"):
        find_file(tmp_path, ("y.csv", "z.csv"), "labels")


def test_parse_labels_spellings_and_errors():
    df = pd.DataFrame({"A": ["1.0", "0", "-1", None, " 1 ", "positive"]})
    out = parse_labels(df, ["A"], "f.csv", values={"positive": 1})
    np.testing.assert_array_equal(out["A"].to_numpy(), np.array([1, 0, -1, np.nan, 1, 1], dtype=np.float32))
    assert out["A"].dtype == np.float32
    with pytest.raises(SchemaError, match=r"f.csv: column 'A' line 7 has label value 'positive'"):
        parse_labels(df, ["A"], "f.csv")
    with pytest.raises(SchemaError, match=r"line 2 has label value '2'"):
        parse_labels(pd.DataFrame({"A": ["2"]}), ["A"], "f.csv")


def test_require_columns_and_check_unique():
    df = pd.DataFrame({"Patient ID": ["a", "b", "a"]})
    with pytest.raises(SchemaError, match=r"missing column 'PatientID'; did you mean 'Patient ID'"):
        require_columns(df, ["PatientID"], "f.csv")
    with pytest.raises(SchemaError, match=r"f.csv: duplicate patient 'a' on lines \[2, 4\]"):
        check_unique(df["Patient ID"], "patient", "f.csv")
