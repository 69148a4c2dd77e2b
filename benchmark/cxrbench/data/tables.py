"""Reading the metadata tables of real datasets, with errors that name the file, column and line.

Line numbers in messages are 1-based file lines (the header is line 1, the first data row line 2).
"""

from __future__ import annotations

import difflib
from pathlib import Path

import numpy as np
import pandas as pd

from cxrbench.errors import DataError, SchemaError


def find_file(directory: Path, stems: tuple[str, ...], what: str, *, required: bool = True) -> Path | None:
    """The first of `directory/<stem>` that exists, trying `.gz` variants; DataError if required and none."""
    for stem in stems:
        for name in (stem, f"{stem}.gz"):
            candidate = directory / name
            if candidate.is_file():
                return candidate
    if required:
        tried = ", ".join(f"{s}(.gz)" for s in stems)
        raise DataError(f"{directory}: {what} not found (looked for {tried})")
    return None


def read_table(path: Path, *, usecols=None, dtype=str) -> pd.DataFrame:
    """Read a CSV (optionally gzipped) or XLSX as strings; DataError for unreadable or empty files."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        if path.suffix.lower() in (".xlsx", ".xls"):
            try:
                df = pd.read_excel(path, dtype=dtype)
            except ImportError:
                raise DataError(f"{path}: reading Excel files needs openpyxl (pip install openpyxl), "
                                "or save the sheet as CSV") from None
            except Exception as exc:  # zipfile.BadZipFile, openpyxl and xlrd errors
                raise DataError(f"{path}: cannot read as an Excel workbook ({exc})") from None
        else:
            # pyarrow's parser is about twice as fast on CheXpert's 223k rows
            engine = {"engine": "pyarrow"} if usecols is None else {"low_memory": False}
            df = pd.read_csv(path, dtype=dtype, keep_default_na=True, na_values=[""], usecols=usecols, **engine)
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: file is empty (no header, no rows)") from None
    except (pd.errors.ParserError, UnicodeDecodeError, OSError, EOFError) as exc:
        raise DataError(f"{path}: cannot parse ({str(exc).splitlines()[0]})") from None
    except ValueError as exc:  # usecols naming a column that is absent
        raise DataError(f"{path}: {exc}") from None
    df.columns = [str(c).strip() for c in df.columns]
    if len(df) == 0:
        raise DataError(f"{path}: has a header but no rows")
    return df


def require_columns(df: pd.DataFrame, columns, path: Path | str) -> None:
    """SchemaError naming the first missing column of `path` (and the closest present one)."""
    for column in columns:
        if column not in df.columns:
            close = difflib.get_close_matches(column, list(df.columns), n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r} (renamed?)" if close else ""
            raise SchemaError(f"{path}: missing column {column!r}{hint}; columns present: "
                              f"{', '.join(map(str, df.columns[:20]))}")


def parse_labels(df: pd.DataFrame, columns, path: Path | str,
                 values: dict[str, float] | None = None) -> pd.DataFrame:
    """Label columns as float32 1 / 0 / -1 / NaN; SchemaError naming file, column, line and value.

    `values` optionally maps raw strings to labels first (e.g. {"positive": 1}); blanks are NaN.
    """
    out = {}
    for column in columns:
        raw = df[column]
        # Few distinct spellings ("1.0", "-1", "", ...): parse each once, then index.
        codes, uniques = pd.factorize(raw)
        parsed_uniques = [_label_value(u, values) for u in uniques]
        bad_codes = [k for k, v in enumerate(parsed_uniques) if v is _BAD]
        if bad_codes:
            i = int(np.argmax(np.isin(codes, bad_codes)))
            raise SchemaError(f"{path}: column {column!r} line {i + 2} has label value {raw.iloc[i]!r}; "
                              "allowed: 1, 0, -1 or blank")
        table = np.asarray(parsed_uniques + [np.nan], dtype=np.float32)
        parsed = table[codes]  # code -1 (missing) picks the trailing NaN
        out[column] = parsed
    return pd.DataFrame(out, index=df.index)


_BAD = object()


def _label_value(value, values: dict[str, float] | None):
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return np.nan
    text = str(value).strip()
    if text == "":
        return np.nan
    if values and text in values:
        text = str(values[text])
    try:
        number = float(text)
    except ValueError:
        return _BAD
    return number if number in (1.0, 0.0, -1.0) else _BAD


def check_unique(values: pd.Series, what: str, path: Path | str) -> None:
    """SchemaError naming the first duplicated value of `values` and its lines."""
    dup = values.duplicated(keep=False)
    if dup.any():
        first = values[dup].iloc[0]
        lines = (np.flatnonzero((values == first).to_numpy()) + 2).tolist()[:5]
        raise SchemaError(f"{path}: duplicate {what} {first!r} on lines {lines} "
                          f"({int(dup.sum())} rows share an id)")
