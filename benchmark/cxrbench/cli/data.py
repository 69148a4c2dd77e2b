"""`cxrbench data ...`: list, verify, import and preview datasets."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from cxrbench.errors import ConfigError

ORDER = 10

data_app = typer.Typer(
    help="Datasets: list sources, verify frozen splits, import published splits, preview images.",
    no_args_is_help=True,
)
out = Console(soft_wrap=True)  # long paths and counts stay on one line (tests and logs grep them)

ROOT_HELP = "Dataset folder (chexpert: the folder holding CheXpert-v1.0[-small]/ or train.csv; mimic: the MIMIC-CXR-JPG folder; nih: the folder holding Data_Entry_2017(_v2020).csv and images/; csv: the CSV file)."
MAPPING_HELP = "csv source only: the column-mapping YAML (see docs/data.md)."
DEMO_HELP = "chexpert only: demographics file (CSV or XLSX with PATIENT, PRIMARY_RACE, ...); found automatically if it sits beside train.csv."
MIMIC_IV_HELP = "mimic only: folder with MIMIC-IV patients.csv(.gz) / admissions.csv(.gz) for age, sex, race."


def register(app: typer.Typer) -> None:
    app.add_typer(data_app, name="data")


def _source(name: str, root: Path | None, mapping: Path | None = None, demographics: Path | None = None,
            mimic_iv: Path | None = None):
    from cxrbench.data.sources import get_source

    options: dict = {}
    if mapping is not None:
        if name != "csv":
            raise ConfigError("--mapping applies to the csv source only")
        options["mapping"] = mapping
    if demographics is not None:
        if name != "chexpert":
            raise ConfigError("--demographics applies to the chexpert source only")
        options["demographics"] = demographics
    if mimic_iv is not None:
        if name != "mimic":
            raise ConfigError("--mimic-iv applies to the mimic source only")
        options["mimic_iv"] = mimic_iv
    if name == "phantom":
        return get_source(name, **options)
    return get_source(name, root, **options)


@data_app.command("ls")
def ls(
    source: str = typer.Argument(None, help="Summarise this source's local copy (needs --root) instead of listing sources."),
    root: Path = typer.Option(None, "--root", help=ROOT_HELP),
    mapping: Path = typer.Option(None, "--mapping", help=MAPPING_HELP),
    demographics: Path = typer.Option(None, "--demographics", help=DEMO_HELP),
    mimic_iv: Path = typer.Option(None, "--mimic-iv", help=MIMIC_IV_HELP),
) -> None:
    """List the sources and committed split fingerprints, or summarise one local dataset.

    Examples:

      cxrbench data ls

      cxrbench data ls chexpert --root ~/data/chexpert
    """
    from cxrbench.data.fingerprint import list_committed
    from cxrbench.data.sources import SOURCES

    if source is None:
        table = Table(title="sources")
        table.add_column("name")
        table.add_column("reads")
        table.add_column("needs")
        for name, (_, what) in SOURCES.items():
            needs = {"phantom": "nothing", "csv": "--root FILE.csv --mapping FILE.yaml"}.get(name, "--root PATH")
            table.add_row(name, what, needs)
        out.print(table)
        prints = Table(title="committed split fingerprints (tasks/cxrbench/tasks/fingerprints/)")
        for column in ("source", "scheme", "level", "patients train/val/test", "images train/val/test", "sha256"):
            prints.add_column(column)
        for fp in list_committed():
            prints.add_row(fp.source, fp.scheme, fp.level,
                           " / ".join(f"{fp.patients.get(s, 0):,}" for s in ("train", "val", "test")),
                           " / ".join(f"{fp.images.get(s, 0):,}" for s in ("train", "val", "test")),
                           fp.sha256[:12] + "…")
        out.print(prints)
        return
    from cxrbench.schema import PATHOLOGIES

    src = _source(source, root, mapping, demographics, mimic_iv)
    with out.status(f"reading {source} metadata…"):
        everything = src.rows(frontal_only=False)
    frontal = everything[everything["view"].isin(["PA", "AP"])]
    out.print(f"[bold]{source}[/] ({root}): {len(everything):,} images, {everything['patient_id'].nunique():,} patients; "
              f"{len(frontal):,} frontal images (views: "
              + ", ".join(f"{v} {n:,}" for v, n in everything["view"].value_counts().items()) + ")")
    out.print("sex: " + ", ".join(f"{k} {n:,}" for k, n in everything["sex"].value_counts().items())
              + "; race: " + ", ".join(f"{k} {n:,}" for k, n in everything["race"].value_counts().items()))
    table = Table(title="labels (all images)")
    for column in ("label", "positive", "negative", "uncertain", "blank"):
        table.add_column(column, justify="right" if column != "label" else "left")
    for label in PATHOLOGIES:
        v = everything[label]
        table.add_row(label, f"{int((v == 1).sum()):,}", f"{int((v == 0).sum()):,}", f"{int((v == -1).sum()):,}",
                      f"{int(v.isna().sum()):,}")
    out.print(table)


@data_app.command("verify")
def verify(
    source: str = typer.Argument(..., help="Source name: chexpert, mimic, nih, csv, phantom."),
    root: Path = typer.Option(None, "--root", help=ROOT_HELP),
    scheme: str = typer.Option("cxrbench", "--scheme", help="Split scheme: cxrbench (patient hash) or, for mimic and nih, official."),
    split_file: Path = typer.Option(None, "--split-file", help="Verify a split written by `data import-split` instead of the local dataset."),
    fingerprint: Path = typer.Option(None, "--fingerprint", help="Compare against this fingerprint JSON instead of the committed one."),
    strict: bool = typer.Option(False, "--strict", help="Treat a subset (patients or images absent locally) as a failure."),
    write_fingerprint: Path = typer.Option(None, "--write-fingerprint", help="Also write your copy's fingerprint JSON here (how a new fingerprint is made)."),
    mapping: Path = typer.Option(None, "--mapping", help=MAPPING_HELP),
    demographics: Path = typer.Option(None, "--demographics", help=DEMO_HELP),
    mimic_iv: Path = typer.Option(None, "--mimic-iv", help=MIMIC_IV_HELP),
) -> None:
    """Check that your local copy gives the frozen split, naming any patients that differ.

    Exit 0 for `match` or `subset` (every patient you hold is assigned as frozen, but you lack some); exit 1 for `mismatch` (or `subset` under --strict).

    Examples:

      cxrbench data verify chexpert --root ~/data/chexpert

      cxrbench data verify mimic --root ~/data/mimic-cxr-jpg --scheme official

      cxrbench data verify nih --root ~/data/nih-chestxray14    # also names missing images, another CSV release

      cxrbench data verify chexpert --split-file paper.parquet

      cxrbench data verify mimic --root ~/data/mimic-cxr-jpg --write-fingerprint mimic-cxrbench.json
    """
    from cxrbench.data import fingerprint as fp
    from cxrbench.data.splits import Split

    if split_file is not None:
        split = Split.load(split_file)
        local = fp.Fingerprint.of(split)
        source, scheme = split.source, split.scheme
    else:
        src = _source(source, root, mapping, demographics, mimic_iv)
        with out.status(f"reading {source} metadata and assigning splits…"):
            rows = src.rows()
            split = src.split(scheme)
            local = fp.Fingerprint.of(split, rows, with_ids=scheme == "cxrbench")
    if write_fingerprint is not None:
        local.save(write_fingerprint)
        out.print(f"wrote this copy's fingerprint to {write_fingerprint}")
        if fingerprint is None and not fp.committed_path(source, scheme).is_file():
            out.print(f"no committed fingerprint for {source}-{scheme} to compare with")
            return
    frozen = fp.Fingerprint.load(fingerprint) if fingerprint else fp.committed(source, scheme)
    report = fp.verify(local, frozen)
    colour = {"match": "green", "subset": "yellow", "mismatch": "red"}[report.status]
    out.print(f"[bold {colour}]{report.status}[/]: {source} split {scheme!r}")
    for line in report.lines:
        out.print(f"  {line}", markup=False)
    # a source that knows its published release also names what else differs (CSV release, lists, images)
    release = src.release_problems() if split_file is None and hasattr(src, "release_problems") else []
    if release:
        out.print(f"[bold red]release[/]: {len(release)} difference(s) from the published {source} release")
        for line in release:
            out.print(f"  {line}", markup=False)
    if report.status == "mismatch" or release or (strict and report.status != "match"):
        raise typer.Exit(1)


@data_app.command("fingerprint")
def fingerprint_cmd(
    shared: Path = typer.Option(..., "--shared", help="Folder holding metadata/chexpert_train.csv.gz (the real "
                                "CheXpert train.csv) and paper-splits/ (the study's published split lists)."),
) -> None:
    """Remake the committed split fingerprints (tasks/cxrbench/tasks/fingerprints/) from the real
    metadata: CheXpert's patient-hash split and the study's CheXpert and MIMIC-CXR lists.

    A maintainer's command: the metadata cannot ship, only counts, hashes and compact patient-id
    ranges are written. `cxrbench data verify` checks a user's copy against these files.
    """
    from cxrbench.data.fingerprint import committed_path
    from cxrbench.data.reference_fingerprints import reference_fingerprints

    for fp in reference_fingerprints(shared):
        path = committed_path(fp.source, fp.scheme)
        fp.save(path)
        out.print(f"{path.name}: patients {fp.patients} images {fp.images} sha256 {fp.sha256[:16]}…")


@data_app.command("import-split")
def import_split(
    lists: list[str] = typer.Argument(..., help="SPLIT=FILE pairs, e.g. train=cxp_tr.csv.gz test=cxp_ts.csv.gz."),
    source: str = typer.Option("chexpert", "--source", help="Whose paths the lists use: chexpert, mimic, or a csv source name."),
    out_path: Path = typer.Option(..., "--out", help="Where to write the split (parquet: image_id, patient_id, split)."),
    scheme: str = typer.Option("paper", "--scheme", help="Name of the imported scheme (fingerprints are looked up as SOURCE-SCHEME)."),
    fingerprint_out: Path = typer.Option(None, "--fingerprint-out", help="Also write the split's fingerprint JSON here."),
) -> None:
    """Turn published split lists (files of `Path,PID` rows) into a cxrbench split.

    Each list's images go to the named split; a patient listed in two splits is an error. The result is compared with the committed fingerprint for SOURCE-SCHEME when there is one.

    Example (the study's CheXpert lists):

      cxrbench data import-split train=cxp_tr.csv.gz test=cxp_ts.csv.gz --source chexpert --out paper.parquet
    """
    from cxrbench.data import fingerprint as fp
    from cxrbench.data.import_split import import_split as run_import

    files: dict[str, str] = {}
    for item in lists:
        name, sep, file = item.partition("=")
        if not sep or not file:
            raise ConfigError(f"import-split: {item!r} is not SPLIT=FILE (e.g. train=cxp_tr.csv.gz)")
        files[name] = file
    with out.status("reading split lists…"):
        split = run_import(files, source, scheme)
    split.save(out_path)
    local = fp.Fingerprint.of(split)
    counts = split.counts()
    for name in files:
        out.print(f"{name}: {counts['images'][name]:,} images from {counts['patients'][name]:,} patients")
    out.print(f"no patient is in two splits; wrote {out_path}")
    if fingerprint_out is not None:
        local.save(fingerprint_out)
        out.print(f"fingerprint written to {fingerprint_out}")
    if fp.committed_path(source, scheme).is_file():
        report = fp.verify(local, fp.committed(source, scheme))
        colour = "green" if report.status == "match" else "red"
        out.print(f"[{colour}]{report.status}[/] against committed fingerprint {source}-{scheme}")
        for line in report.lines:
            out.print(f"  {line}", markup=False)
        if report.status != "match":
            raise typer.Exit(1)


@data_app.command("preview")
def preview(
    source: str = typer.Argument(..., help="phantom, chexpert, mimic or csv."),
    out_file: Path = typer.Option(Path("preview.png"), "--out", help="PNG to write."),
    root: Path = typer.Option(None, "--root", help=ROOT_HELP),
    size: int = typer.Option(None, "--size", help="Image size in pixels, 32–512 (default: 256 for real sources, the gallery's own for the phantom)."),
    seed: int = typer.Option(0, "--seed", help="Which images (real sources) or phantom patients to show."),
    n: int = typer.Option(16, "--n", help="Number of images (real sources)."),
    mapping: Path = typer.Option(None, "--mapping", help=MAPPING_HELP),
    demographics: Path = typer.Option(None, "--demographics", help=DEMO_HELP),
    mimic_iv: Path = typer.Option(None, "--mimic-iv", help=MIMIC_IV_HELP),
) -> None:
    """Write a grid of images with their labels to a PNG.

    Examples:

      cxrbench data preview phantom --out phantom.png

      cxrbench data preview chexpert --root ~/data/chexpert --out chexpert.png --n 12
    """
    from cxrbench.data.preprocess import check_size

    if size is not None:
        check_size(size)
    if source == "phantom":
        try:
            from cxrbench.data.phantom.gallery import write_gallery
        except ImportError as exc:
            raise ConfigError(f"the phantom gallery is not available in this install ({exc})") from None
        with out.status("rendering the phantom gallery…"):
            if size is None:
                write_gallery(out_file, seed=seed)
            else:
                write_gallery(out_file, size=size, seed=seed)
        out.print(f"wrote {out_file}")
        return
    from cxrbench.data.preview import sample_images, write_grid

    if n < 1:
        raise ConfigError(f"--n must be at least 1, got {n}")
    src = _source(source, root, mapping, demographics, mimic_iv)
    with out.status(f"reading {source} and decoding {n} images…"):
        images, captions, failures = sample_images(src, n, size or 256, seed)
    write_grid(images, captions, out_file, title=f"{source}: {len(images)} frontal images (seed {seed})")
    out.print(f"wrote {out_file} ({len(images)} images)")
    if failures:
        out.print(f"[yellow]{len(failures)} image(s) could not be loaded[/], e.g. {escape(str(failures[0]))}")
