"""The commands that remake shipped files and tables: `cxrbench tasks fingerprint`, `cxrbench data
fingerprint` and `cxrbench leaderboard export --markdown`."""

import shutil
from pathlib import Path

from typer.testing import CliRunner

from cxrbench.cli import app

REPO = Path(__file__).resolve().parents[2]


def test_task_fingerprints_check_then_write(tmp_path, monkeypatch):
    """The command's plumbing; that the shipped file is what the data code gives is
    tests/test_task_fingerprints.py's (computing it takes a minute)."""
    import json

    import cxrbench.runner.task_fingerprints as tf

    shipped = tf.shipped_path("phantom")
    table = json.loads(shipped.read_text())
    monkeypatch.setattr(tf, "task_fingerprints", lambda profile: table)
    out = CliRunner().invoke(app, ["tasks", "fingerprint", "phantom", "--check"], env={"COLUMNS": "300"})
    assert out.exit_code == 0 and "phantom.fingerprints.json: current" in out.output, out.output
    stale = tmp_path / "phantom.fingerprints.json"
    stale.write_text(shipped.read_text().replace('"version": 5', '"version": 4', 1))
    monkeypatch.setattr(tf, "shipped_path", lambda profile: stale)
    out = CliRunner().invoke(app, ["tasks", "fingerprint", "phantom", "--check"], env={"COLUMNS": "300"})
    assert out.exit_code == 1 and "differs from the data code" in out.output
    out = CliRunner().invoke(app, ["tasks", "fingerprint", "phantom"])
    assert out.exit_code == 0, out.output
    assert stale.read_text() == shipped.read_text()


def test_data_fingerprint_remakes_the_committed_files(shared_data, tmp_path, monkeypatch):
    import cxrbench.data.fingerprint as fp

    committed = REPO / "tasks" / "cxrbench" / "tasks" / "fingerprints"
    monkeypatch.setattr(fp, "committed_path", lambda source, scheme: tmp_path / f"{source}-{scheme}.json")
    out = CliRunner().invoke(app, ["data", "fingerprint", "--shared", str(shared_data)])
    assert out.exit_code == 0, out.output
    for name in ("chexpert-cxrbench.json", "chexpert-paper.json", "mimic-paper.json"):
        assert (tmp_path / name).read_text() == (committed / name).read_text(), name


def test_markdown_export_of_the_published_store(tmp_path):
    store = tmp_path / "store"
    shutil.copytree(REPO / "leaderboard" / "cxrbench" / "leaderboard" / "results", store)
    out = CliRunner().invoke(app, ["leaderboard", "export", "--markdown", str(store)])
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    assert lines[0].startswith("| task | submission | internal macro AUROC")
    rows = [line for line in lines if line.startswith("| phantom/")]
    assert len([r for r in rows if "Δ" not in r]) >= 25  # a row per published record, then the pairwise rows
    assert any(line.startswith("| feature space | generator | Fréchet distance") for line in lines)

    held_out = sorted(store.rglob("held-out-*"))[0].name.removeprefix("held-out-")
    out = CliRunner().invoke(app, ["leaderboard", "export", "--markdown", str(store), "--population",
                                   f"held-out:{held_out}"])
    assert out.exit_code == 0, out.output
    rows = [line for line in out.output.splitlines() if line.startswith("| phantom/")]
    table = [r for r in rows if " − " not in r.split("|")[2]]  # one row per record; pairs read "A − B"
    records = [p for p in store.rglob(f"held-out-{held_out}/*.json") if p.name != "pairwise.json"]
    assert table and len(table) == len(records)  # that key's records only, never the dev ones


def test_export_needs_a_format():
    out = CliRunner().invoke(app, ["leaderboard", "export"])
    assert out.exit_code != 0 and "--markdown" in str(out.exception or out.output)
