"""Precomputed synthetic sets as a table: one row per image, a key and an image path.

The CheXGenBench layout (`prompt`, `img_savename` columns) works as it is:

```yaml
precomputed:
  synthetic: synthetic_images/     # the folder the image paths are relative to
  table: prompt_INFO.csv           # .csv or .parquet
  key: prompt                      # or request_id
  image_column: img_savename       # default
  prompt: {template: "{findings}"} # key prompt: how a request reads as a prompt
```

With `key: request_id` each request takes the row with its id. With `key: prompt` each request is
rendered to a prompt (`condition_mapping.prompts`) and takes a row with that prompt: the k-th
request with a prompt P in replica r takes the (r · n_P + k)-th row with P (n_P = requests with P
per replica), so replicas never share an image.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from cxrbench.errors import SubmissionError, printable
from cxrbench.submissions.condition_mapping import DEFAULT_TEMPLATE, PromptMapping, prompts


def read_table(root: Path, pre, manifest_path: Path) -> pd.DataFrame:
    """The table, checked for its columns and for paths inside the submission."""
    path = (root / pre.table).resolve()
    if root not in path.parents:
        raise SubmissionError(f"{manifest_path}: precomputed.table {pre.table!r} points outside the submission directory")
    if not path.is_file():
        raise SubmissionError(f"{manifest_path}: precomputed.table {pre.table!r} does not exist")
    try:
        table = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path, dtype=str, keep_default_na=False)
    except Exception as exc:  # noqa: BLE001 - any reader failure is the file's fault
        raise SubmissionError(f"{path}: cannot read the table ({exc})") from None
    key = pre.key_column or pre.key
    missing = [c for c in (key, pre.image_column) if c not in table.columns]
    if missing:
        raise SubmissionError(f"{path}: no column {missing[0]!r} (columns: {', '.join(map(str, table.columns))}); "
                              f"set precomputed.key_column / image_column")
    if pre.key == "request_id" and table[key].duplicated().any():
        raise SubmissionError(f"{path}: request_id {table.loc[table[key].duplicated(), key].iloc[0]!r} appears twice")
    return table.rename(columns={key: "_key", pre.image_column: "_image"})[["_key", "_image"]].astype(str)


def table_paths(root: Path, pre, requests: pd.DataFrame, manifest_path: Path) -> list[Path]:
    """The image file of each request (in request order); SubmissionError names the first unmatched one."""
    table = read_table(root, pre, manifest_path)
    where = root / pre.table
    ids = requests["request_id"].astype(str).tolist()
    if pre.key == "request_id":
        index = dict(zip(table["_key"], table["_image"]))
        for rid in ids:
            if rid not in index:
                raise SubmissionError(f"{where}: no row for request {rid!r} (export the requests with "
                                      f"`cxrbench tasks requests`)")
        chosen = [index[rid] for rid in ids]
    else:
        wanted = prompts(requests, pre.prompt)
        rows_by_prompt = table.groupby("_key", sort=False)["_image"].apply(list).to_dict()
        per_replica = pd.Series(wanted).value_counts().to_dict()
        seen: dict[str, int] = {}
        chosen = []
        for rid, prompt in zip(ids, wanted):
            replica = int(rid.rsplit("#r", 1)[1]) if "#r" in rid else 0
            k = seen.get(prompt, 0)
            seen[prompt] = k + 1
            position = replica * per_replica[prompt] + k
            have = rows_by_prompt.get(prompt, [])
            if position >= len(have):
                raise SubmissionError(f"{where}: no image for request {rid!r}: it reads as prompt {prompt!r}, which the "
                                      f"table has {len(have)} row(s) for; this request needs row {position + 1}")
            chosen.append(have[position])
    folder = (root / pre.synthetic).resolve()
    paths = []
    for rid, rel in zip(ids, chosen):
        path = (folder / rel).resolve()
        if root not in path.parents:
            raise SubmissionError(f"{where}: image path {rel!r} (request {rid}) points outside the submission directory")
        paths.append(path)
    return paths


#: templates a prompt table is tried against when none of its prompts reads as a request's (the
#: default report style, the findings alone, and the lists of findings)
CANDIDATE_TEMPLATES = (DEFAULT_TEMPLATE, "{findings}", "{positive}", "Chest radiograph. {findings}",
                       "{view} chest radiograph. {findings}", "A chest X-ray of a {patient}. {findings}")


def check_prompts_match(root: Path, pre, requests: pd.DataFrame, manifest_path: Path) -> None:
    """SubmissionError (one line) when not one of the table's prompts is the prompt of a request
    (`key: prompt`), naming the template the table's prompts seem to follow, if any of the
    candidates (and uncertainty / negative settings) reads more of them."""
    table = read_table(root, pre, manifest_path)
    have = set(table["_key"])
    wanted = prompts(requests, pre.prompt)
    if have & set(wanted):
        return
    guess = guess_template(requests, have)
    hint = (f"; the table seems to use {guess[0]} ({guess[1]} of the first {len(requests)} requests' prompts match "
            f"it): set precomputed.prompt to that") if guess else "; no template cxrbench knows reads its prompts"
    raise SubmissionError(f"{root / pre.table}: none of its {len(have)} prompt(s) is the prompt of a request under "
                          f"template {pre.prompt.template!r} (request {requests['request_id'].iloc[0]} reads "
                          f"{wanted[0]!r}; the table's first prompt is {printable(table['_key'].iloc[0][:120])!r}){hint}. "
                          f"Export the task's prompts with `cxrbench tasks requests TASK --prompts --template ...`")


def guess_template(requests: pd.DataFrame, have: set[str], most: int = 200) -> tuple[str, int] | None:
    """(the prompt settings, as manifest text, that read most of `requests`' prompts from `have`, how many), or None."""
    rows = requests.head(most)
    best = None
    for template in CANDIDATE_TEMPLATES:
        for uncertain_as in ("possible", "positive", "negative"):
            for negatives in (True, False):
                mapping = PromptMapping(template=template, uncertain_as=uncertain_as, mention_negatives=negatives)
                hits = sum(p in have for p in prompts(rows, mapping))
                if hits and (best is None or hits > best[1]):
                    extra = (f", uncertain_as: {uncertain_as}" if uncertain_as != "possible" else "") + \
                            (", mention_negatives: false" if not negatives else "")
                    best = (f"{{template: {template!r}{extra}}}", hits)
    return best


#: a stored image may be at most this many times the task's size on a side; anything larger (a PNG
#: of 12,000 x 12,000 px compresses to 140 KB) is refused from its header, before a pixel is decoded
MAX_SCALE = 8


def decode_image(source: Path | bytes, size: int, where: str) -> np.ndarray:
    """Grey uint8 pixels of one submitted image (as stored; the caller resizes or checks the size).

    Its header is read first: more than `size` x MAX_SCALE pixels on a side is refused, as is a file
    that is not a readable image. Every failure is one SubmissionError naming `where`."""
    from PIL import Image

    most = size * MAX_SCALE
    try:
        with warnings.catch_warnings():  # the size is judged below, with a message naming the file
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(source) if isinstance(source, bytes) else source)
        with image:
            width, height = image.size
            if width > most or height > most or width * height > Image.MAX_IMAGE_PIXELS:
                raise SubmissionError(f"{printable(where)}: image is {width} x {height} px; at most {most} px a side is "
                                      f"read ({MAX_SCALE} x the task's {size} px; resize: in the manifest fits it)")
            return np.asarray(image.convert("L"))
    except SubmissionError:
        raise
    except Image.DecompressionBombError:
        raise SubmissionError(f"{printable(where)}: image is over {2 * Image.MAX_IMAGE_PIXELS} px; at most {most} px a "
                              f"side is read ({MAX_SCALE} x the task's {size} px)") from None
    except Exception as exc:  # noqa: BLE001 - any decoder failure is the file's fault
        raise SubmissionError(f"{printable(where)}: not a readable image ({printable(str(exc)[:200])})") from None


def image_files(paths: list[Path], requests: pd.DataFrame):
    """(where, file) of each request's image, in request order; SubmissionError names the first missing one."""
    for path, rid in zip(paths, requests["request_id"].astype(str)):
        if not path.is_file():
            raise SubmissionError(f"{printable(path)}: requested synthetic image missing (request {printable(rid)})")
        yield str(path), path
