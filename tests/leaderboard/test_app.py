"""Every page through Streamlit's AppTest: content, filters, empty store, malformed records."""

import json
from pathlib import Path
from typing import get_args

import pytest
from leaderboard_fixtures import make_record, store_pair, tamper

from cxrbench.leaderboard import charts as charts_module
from cxrbench.leaderboard.charts import PALETTE, entry_colour
from cxrbench.leaderboard.frames import OVERVIEW_PRIMARY
from cxrbench.leaderboard.store import record_path
from cxrbench.results import Verdict, read_record


def charts(at):
    return [json.loads(e.proto.spec) for e in at.get("vega_lite_chart")]


def chart_rows(at, i: int = 0) -> list[dict]:
    """The rows a chart plots (Streamlit ships them as Arrow IPC beside the spec)."""
    import pyarrow as pa

    datasets = at.get("vega_lite_chart")[i].proto.datasets
    return [row for ds in datasets for row in pa.ipc.open_stream(ds.data.data).read_all().to_pylist()]


def test_overview_ranks_as_intervals_with_ci_fallback_note(app_test, store):
    at = app_test()
    assert at.sidebar.radio(key="page").value == "Overview"
    df = at.dataframe[0].value
    # fits 1,400 px; the rest behind "More columns"; no generator is ranked apart, so no column of blank groups
    assert list(df.columns) == [c for c in OVERVIEW_PRIMARY if c != "group"]
    assert set(df["task"]) == {f"phantom/supplement-{n}" for n in (100, 200, 300, 500, 1000)}  # N = 0 not ranked
    baseline = [m.value for m in at.markdown if "Real-only baseline" in m.value]
    assert baseline and "phantom/supplement-0" in baseline[0] and "internal_test 0.7" in baseline[0]
    top = df[df["task"] == "phantom/supplement-1000"]
    oracle = read_record(record_path(store, make_record("phantom/supplement-1000", "oracle")))
    assert top.iloc[0]["entry"] == "oracle@1.0"
    assert top.iloc[0]["macro_auroc"] == pytest.approx(oracle.macro("internal_test"))
    assert any("–" in r for r in df["rank"])  # some ranks are tied intervals
    assert any("bootstrap-CI overlap" in w.value for w in at.warning)
    at.selectbox(key="overview-family").set_value("synthetic_only").run()
    assert set(at.dataframe[0].value["task"]) == {f"phantom/synthetic_only-{n}" for n in (100, 200, 300, 500, 1000)}
    at.selectbox(key="overview-rank-on").set_value("external:site-c").run()
    assert not at.exception and len(at.dataframe[0].value) == 20
    at.multiselect(key="overview-columns").set_value(["gap", "within_bounds"]).run()
    df = at.dataframe[0].value
    assert list(df.columns) == [c for c in OVERVIEW_PRIMARY if c != "group"] + ["gap", "within_bounds"]
    assert df["gap"].notna().all()


def test_search_box_keeps_matching_submissions(app_test):
    at = app_test()
    at.sidebar.text_input(key="search").input("DDPM").run()
    df = at.dataframe[0].value
    assert set(df["entry"]) == {"reference-ddpm@1.0"}
    at.sidebar.text_input(key="search").input("no-such-thing").run()
    assert not at.exception and any("No supplement" in i.value or "No records" in i.value for i in at.info)


def test_filters_budget_label_set_and_eval_sets(app_test):
    at = app_test("curve")
    pts = at.dataframe[0].value
    assert set(pts["eval_set"]) == {"internal_test", "external:site-b", "external:site-c"}
    assert sorted(pts["ratio"].unique()) == [0, 100, 200, 300, 500, 1000] and set(pts["budget"]) == {"quick"}
    at.sidebar.multiselect(key="eval_sets").set_value(["internal_test"]).run()
    assert set(at.dataframe[0].value["eval_set"]) == {"internal_test"}
    spec = charts(at)[0]
    assert spec["facet"]["column"]["field"] == "eval_set"
    at.sidebar.selectbox(key="budget").set_value("standard").run()
    assert at.dataframe == [] or at.info  # standard records are competition5, the label-set filter is all14
    assert any("No supplement records" in i.value for i in at.info)
    at.sidebar.selectbox(key="label_set").set_value("competition5").run()
    pts = at.dataframe[0].value
    assert set(pts["entry"]) == {"reference-ddpm@1.0"} and sorted(pts["ratio"]) == [0, 100]


def test_delta_page_marks_p_values(app_test):
    at = app_test("delta")
    main, df = at.dataframe[0].value, at.dataframe[1].value
    assert list(main.columns) == ["task", "entry", "eval_set", "delta", "delta_ci_low", "delta_ci_high", "p", "marker",
                                 "verdict"]
    spec = charts(at)[0]  # a panel per family x eval set with comparisons, each scaled to its own data
    assert spec["resolve"]["scale"]["y"] == "independent" and spec["facet"]["field"] == "panel"
    panels = {row["panel"] for row in chart_rows(at)}
    assert panels == {f"{f} · {e}" for f, e in df[["family", "eval_set"]].drop_duplicates().itertuples(index=False)}
    assert df["against"].isin(["phantom/supplement-0", "phantom/cross_source-0"]).all()
    assert not df["task"].str.endswith("-0").any()  # baselines are not compared with themselves
    assert set(df["marker"]) <= {"", "*", "**", "***"} and "***" in set(df["marker"])
    sig = df[df["p"] < 0.001]
    assert (sig["marker"] == "***").all()
    assert charts(at)


def test_synthetic_only_page(app_test):
    at = app_test("synthetic")
    df = at.dataframe[0].value
    assert set(df["ratio"]) == {100, 200, 300, 500, 1000}
    row = df[(df["entry"] == "oracle@1.0") & (df["ratio"] == 1000) & (df["eval_set"] == "internal_test")].iloc[0]
    assert row["real_only"] == pytest.approx(row["synthetic_only"] - row["delta"])
    assert row["verdict"] in get_args(Verdict)  # the record's own verdict, one vocabulary everywhere
    assert charts(at)


def test_cross_source_page(app_test):
    at = app_test("cross-source")
    df = at.dataframe[0].value
    assert set(df["task"]) == {"phantom/cross_source-100", "phantom/cross_source-300"}
    assert set(df["eval_set"]) == {"internal_test", "external:site-a", "external:site-c"}


def test_per_label_page(app_test):
    """The main table answers per label: Δ with its CI and Holm-adjusted p; the AUROC matrix is below."""
    at = app_test("labels")
    main = at.dataframe[0].value
    assert list(main.columns) == ["label", "entry", "delta", "delta_ci_low", "delta_ci_high", "p_holm", "marker", "auroc"]
    compared = main.dropna(subset=["delta"])  # supplement-100 rows: every label has its Δ and CI
    assert len(compared) and (compared["delta_ci_low"] <= compared["delta"]).all()
    assert (compared["delta"] <= compared["delta_ci_high"]).all()
    wide = at.dataframe[1].value
    assert len(wide) == 14 and {"oracle@1.0", "noise@1.0", "reference-ddpm@1.0", "label-shuffle@1.0"} <= set(wide.columns)
    at.selectbox(key="labels-task").set_value("phantom/supplement-300").run()
    long = at.dataframe[0].value
    assert long["p_holm"].notna().all() and set(long["marker"]) <= {"", "*", "**", "***"}


def test_age_bands_in_order(app_test):
    at = app_test("subgroups")
    at.selectbox(key="subgroups-attribute").set_value("age_band").run()
    sg = at.dataframe[-1].value
    assert list(dict.fromkeys(sg["group"])) == ["18-40", "40-60", "60-80", "80+"]
    from cxrbench.leaderboard.frames import group_order

    assert sorted([">=80", "40-60", "<40", "60-80"], key=group_order) == ["<40", "40-60", "60-80", ">=80"]


def test_subgroups_page(app_test):
    at = app_test("subgroups")
    at.selectbox(key="subgroups-attribute").set_value("race").run()
    gaps, sg = at.dataframe[0].value, at.dataframe[1].value
    assert set(sg["group"]) == {"Asian", "Black", "White", "Other/Unknown"}
    for _, g in gaps.iterrows():
        mine = sg[sg["entry"] == g["entry"]]
        assert g["worst_macro_auroc"] == pytest.approx(mine["macro_auroc"].min())
        assert g["largest_gap"] == pytest.approx(mine["macro_auroc"].max() - mine["macro_auroc"].min())
    assert charts(at)


def test_audit_page(app_test):
    at = app_test("audit")
    assert at.selectbox(key="audit-task").value == "phantom/supplement-100"  # baselines carry no audit
    df = at.dataframe[0].value.set_index("metric")
    assert {"fidelity.frechet_distance", "fidelity.precision", "memorization[pixels-32@1].share_close"} <= set(df.index)
    assert set(df.columns) == {"oracle@1.0", "noise@1.0", "reference-ddpm@1.0", "label-shuffle@1.0"}
    assert df.loc["fidelity.frechet_distance", "oracle@1.0"] < df.loc["fidelity.frechet_distance", "noise@1.0"]
    at.selectbox(key="audit-metric").set_value("memorization[pixels-32@1].share_close").run()
    assert not at.exception and charts(at)


def frame_with(at, column: str):
    """The first table on the page that has `column`."""
    return next(d.value for d in at.dataframe if column in d.value.columns)


def test_submission_page_shows_hashes_environment_timings(app_test, store):
    at = app_test("submission")
    at.selectbox(key="submission-entry").set_value("noise@1.0").run()
    at.selectbox(key="submission-task").set_value("phantom/supplement-300 (quick)").run()
    rec = read_record(record_path(store, make_record("phantom/supplement-300", "noise")))
    hashes = frame_with(at, "what").set_index("what")["sha256"]
    assert hashes["record content_sha256"] == rec.content_sha256
    assert hashes["task spec sha256"] == rec.task.spec_sha256
    timings = frame_with(at, "stage")
    assert list(timings["stage"]) == ["generate", "train", "predict", "score"]
    assert at.json and "torch" in at.json[0].value


def test_submission_page_at_a_glance_tasks_training_data_audit_and_cost(app_test):
    at = app_test("submission")
    at.selectbox(key="submission-entry").set_value("noise@1.0").run()
    main, tasks = at.dataframe[0].value, at.dataframe[1].value  # the table that fits 1,400 px; every column
    assert list(main.columns[:6]) == ["task", "eval_set", "delta", "delta_ci_low", "delta_ci_high", "p"]
    assert len(tasks) == 14 and set(tasks["budget"]) == {"quick"}  # every task it was scored on
    assert tasks["task"].iloc[0] == "phantom/supplement-0" and {"delta", "mde", "marker", "verdict"} <= set(tasks.columns)
    assert any("declared training data: `phantom/site-a/train`" in m.value for m in at.markdown)
    at.selectbox(key="submission-task").set_value("phantom/supplement-300 (quick)").run()
    # fixture: 1,902 conditioning rows × 3 replicas generated in 40 s on a CPU
    assert any("5,706 synthetic images in 40.0 s" in m.value and "142.65 images/s" not in m.value
               and "143 images/s" in m.value and "CPU-hours" in m.value for m in at.markdown)
    audit = frame_with(at, "metric").set_index("metric")["value"]
    assert audit["fidelity.precision"] == pytest.approx(0.7)


def test_submission_page_shows_parameters_links_and_a_reused_sets_measured_cost(app_test, store):
    """Schema v3: cxrbench's parameter count and the manifest's links; the generation cost measured
    when the synthetic set was made, shown (dated) for a record whose set came from the cache."""
    from cxrbench.results import GenerationRun, write_record

    path = record_path(store, make_record("phantom/supplement-300", "noise"))
    rec = read_record(path)
    rec.submission.description = "Smooth *noise* [not a link](https://evil.example)"
    rec.submission.paper = "https://arxiv.org/abs/2401.00001"
    rec.submission.links = {"code": "https://github.com/cxrbench/noise"}
    rec.submission.parameters, rec.submission.parameter_files = 1_234_567, {"model.safetensors": 1_234_567}
    for t in rec.timings:
        t.cached = t.cached or t.stage == "generate"  # this run reused the set...
    rec.generation = [GenerationRun(replica=r, images=1902, seconds=19.02, images_per_second=100.0,  # ...made then
                                    device="GPU NVIDIA H200", generated_at="2026-11-30T10:00:00+00:00", reused=True)
                      for r in range(3)]
    write_record(rec, path)
    at = app_test("submission")
    at.selectbox(key="submission-entry").set_value("noise@1.0").run()
    at.selectbox(key="submission-task").set_value("phantom/supplement-300 (quick)").run()
    text = "\n".join(m.value for m in at.markdown)
    assert "**1.23 M** (1,234,567, counted by cxrbench from 1 safetensors file(s))" in text
    assert "[paper](https://arxiv.org/abs/2401.00001) · [code](https://github.com/cxrbench/noise)" in text
    assert r"Smooth \*noise\* \[not a link\]\(https://evil\.example\)" in text  # the submitter's text, inert
    assert ("5,706 synthetic images in 57.1 s on GPU NVIDIA H200: **100 images/s**, 0.0158 GPU-hours for the task "
            "(measured when the set was generated on 2026-11-30; this record reused it from the cache)") in text
    at = app_test("cost")
    at.selectbox(key="cost-task").set_value("phantom/supplement-300").run()
    cost = at.dataframe[1].value  # every column (the first table: those that fit 1,400 px)
    row = cost[(cost["entry"] == "noise@1.0") & (cost["task"] == "phantom/supplement-300")].iloc[0]
    assert row["measured"] and row["reused"] and row["images_per_second"] == pytest.approx(100.0)
    # the measured rate and time lead; this record's own (cached, ~0 s) stage comes last
    cols = list(cost.columns)
    assert cols.index("images_per_second") < cols.index("measured_seconds") < cols.index("reused")
    assert cols[-1] == "generate_seconds" and str(cost["n_synthetic"].dtype) == "Int64"


def test_utility_vs_cost_page(app_test):
    at = app_test("cost")
    assert at.selectbox(key="cost-task").value == "phantom/supplement-100"  # one task at a time: one axis
    assert list(at.dataframe[0].value.columns[:7]) == ["entry", "delta", "delta_ci_low", "delta_ci_high", "p", "marker",
                                                       "verdict"]
    assert set(at.dataframe[1].value["task"]) == {"phantom/supplement-100"}
    at.selectbox(key="cost-task").set_value("phantom/supplement-1000").run()
    df = at.dataframe[1].value
    assert df["measured"].all() and set(df["task"]) == {"phantom/supplement-1000"}
    row = df[(df["entry"] == "oracle@1.0") & (df["task"] == "phantom/supplement-1000")].iloc[0]
    assert row["n_synthetic"] == 19020 and row["images_per_second"] == pytest.approx(19020 / 40)
    assert row["eval_set"] == "internal_test"
    spec = charts(at)[0]
    assert spec["layer"][2]["encoding"]["x"]["scale"]["type"] == "log"
    rows = chart_rows(at)
    assert len(rows) == len(df)


def test_utility_vs_cost_page_says_when_nothing_was_measured(app_test, store):
    from cxrbench.results import write_record

    for path in store.rglob("*.json"):
        if path.name != "pairwise.json":
            rec = read_record(path)
            rec.generation = []  # sets cached before cxrbench stored the measurement
            write_record(rec.seal(), path)
    at = app_test("cost")
    assert any("carries a generation time measured by generation" in i.value for i in at.info) and not charts(at)


def test_a_precomputed_set_is_not_plotted_as_generation_speed(app_test, store):
    """A precomputed synthetic set's generate stage times reading its files, not generating them."""
    from cxrbench.results import write_record

    path = record_path(store, make_record("phantom/supplement-100", "noise"))
    rec = read_record(path)
    rec.generation, rec.environment.isolation = [], {"mode": "no submission code"}
    write_record(rec.seal(), path)
    at = app_test("cost")
    df = at.dataframe[0].value
    assert not df.set_index("entry").loc["noise@1.0", "measured"]
    assert "noise@1.0" not in {row["entry"] for row in chart_rows(at)}


def test_empty_store(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    import cxrbench.leaderboard

    app = Path(cxrbench.leaderboard.__file__).with_name("app.py")
    monkeypatch.setenv("CXRBENCH_RESULTS", str(tmp_path / "empty"))
    monkeypatch.setenv("CXRBENCH_CACHE", str(tmp_path / "cache"))
    at = AppTest.from_file(str(app), default_timeout=60).run()
    assert not at.exception
    assert any("No published records" in i.value for i in at.info)


def test_malformed_and_tampered_records_are_skipped_with_warning(app_test, store):
    tamper(record_path(store, make_record("phantom/supplement-100", "oracle")))
    (store / "phantom" / "quick" / "supplement-100@1" / "broken@0.json").write_text('{"schema_version": 1,')
    at = app_test()
    assert any("2 record file(s) in the store were skipped" in w.value for w in at.warning)
    listed = " ".join(m.value for m in at.markdown)
    assert "supplement-100@1/oracle@1.0.json" in listed and "altered" in listed and "not valid JSON" in listed
    df = at.dataframe[0].value
    assert "oracle@1.0" not in set(df[df["task"] == "phantom/supplement-100"]["entry"])


def test_stale_pairwise_is_ignored_with_warning(app_test, store):
    folder = store / "phantom" / "quick" / "supplement-100@1"
    (folder / "pairwise.json").write_text(json.dumps({
        "task": "phantom/supplement-100", "task_version": 1, "budget": "quick",
        "pairs": [{"a": "oracle@1.0", "b": "noise@1.0", "a_sha256": "0" * 64, "b_sha256": "1" * 64,
                   "comparisons": [{"eval_set": "internal_test", "against": "noise@1.0", "delta": 0.02,
                                    "ci_low": 0.01, "ci_high": 0.03, "p_value": 0.001,
                                    "method": "paired test"}]}]}))
    (store / "phantom" / "quick" / "supplement-200@1").joinpath("pairwise.json").write_text("[1, 2")
    at = app_test()
    text = " ".join(w.value for w in at.warning)
    assert "unreadable pairwise tests" in text and "1 stored pairwise test(s) are stale" in text
    assert not any("paired tests, Holm" in c.value for c in at.caption)  # still ranked by CI overlap


def _nodes(spec):
    """Every dict in a (faceted, layered) Vega-Lite spec."""
    if isinstance(spec, dict):
        yield spec
        spec = list(spec.values())
    if isinstance(spec, list):
        for v in spec:
            yield from _nodes(v)


def _marks(spec) -> list[dict]:
    return [n["mark"] if isinstance(n["mark"], dict) else {"type": n["mark"]} for n in _nodes(spec) if "mark" in n]


def _colour_scales(spec) -> list[dict]:
    colours = [n.get("encoding", {}).get("color") for n in _nodes(spec)]
    return [c["scale"] for c in colours if isinstance(c, dict) and c.get("field") == "entry"]


def test_audit_chart_shows_one_task_never_a_sum_over_tasks(app_test):
    at = app_test("audit")
    at.selectbox(key="audit-metric").set_value("fidelity.precision").run()
    spec, values = charts(at)[0], chart_rows(at)
    assert {v["task"] for v in values} == {"phantom/supplement-100"}
    assert len(values) == 4 and max(v["fidelity.precision"] for v in values) <= 1.0  # 0.7 each, not 3 tasks × 0.7
    assert spec["mark"]["type"] == "bar" and "xOffset" not in spec["encoding"]
    at.selectbox(key="audit-task").set_value("phantom/synthetic_only-300").run()
    assert {v["task"] for v in chart_rows(at)} == {"phantom/synthetic_only-300"}


def test_subgroups_and_per_label_default_to_a_task_with_synthetic_images(app_test):
    at = app_test("subgroups")
    assert at.selectbox(key="subgroups-task").value == "phantom/supplement-100"
    at = app_test("labels")
    assert at.selectbox(key="labels-task").value == "phantom/supplement-100"
    wide = at.dataframe[1].value.set_index("label")
    assert wide.nunique(axis=1).max() > 1  # columns differ (on supplement-0 they would not)


def test_no_worst_group_when_fewer_than_two_groups(app_test, store):
    from cxrbench.results import write_record

    for path in store.rglob("*.json"):
        if path.name == "pairwise.json":
            continue
        rec = read_record(path)
        rec.subgroups = [g for g in rec.subgroups if not (g.attribute == "sex" and g.group == "M")]
        write_record(rec.seal(), path)
    at = app_test("subgroups")
    at.selectbox(key="subgroups-attribute").set_value("sex").run()
    assert any("Fewer than two sex groups" in i.value for i in at.info)
    assert len(at.dataframe) == 1 and set(at.dataframe[0].value["group"]) == {"F"}  # no worst-group table


def test_one_colour_per_submission_on_every_page_and_thin_whiskers(app_test):
    seen = {}
    for page in ("delta", "curve", "synthetic", "cross-source", "subgroups", "audit"):
        at = app_test(page)
        for spec in charts(at):
            for scale in _colour_scales(spec):
                colours = dict(zip(scale["domain"], scale["range"]))
                for entry, colour in colours.items():
                    assert seen.setdefault(entry, colour) == colour, (page, entry)
            for mark in _marks(spec):
                assert mark["type"] != "errorbar"  # CIs are rules, not capped error bars
                if mark["type"] == "rule" and "strokeDash" not in mark and mark.get("color") != "gray":
                    assert mark["strokeWidth"] <= 1.5
    assert set(seen) == {"oracle@1.0", "reference-ddpm@1.0", "label-shuffle@1.0", "noise@1.0"}
    assert set(seen.values()) <= set(PALETTE) and all(seen[e] == entry_colour(e) for e in seen)


def test_colours_hash_from_the_entry_so_a_new_record_recolours_nobody():
    before = {e: entry_colour(e) for e in ("noise@1", "phantom-oracle@1", "reference-ddpm@0.3")}
    domain = sorted([*before, "new-a@1", "new-b@2"])  # the scale any page builds, two more entries in the store
    scale = charts_module.entry_color(domain).to_dict()["scale"]
    assert {e: c for e, c in zip(scale["domain"], scale["range"]) if e in before} == before


def test_compare_page_shows_the_stored_paired_test_either_way_round(app_test, store):

    folder = store / "phantom" / "quick" / "supplement-100@1"
    comps = store_pair(folder, read_record(folder / "oracle@1.0.json"), read_record(folder / "noise@1.0.json"))
    at = app_test("compare")
    assert at.selectbox(key="compare-task").value == "phantom/supplement-100"
    # it opens on the two entries with the best primary macro AUROC of the task
    assert (at.selectbox(key="compare-a").value, at.selectbox(key="compare-b").value) == ("oracle@1.0",
                                                                                          "reference-ddpm@1.0")
    at.selectbox(key="compare-a").set_value("oracle@1.0").run()
    at.selectbox(key="compare-b").set_value("noise@1.0").run()
    per_set, per_label = at.dataframe[0].value.set_index("eval_set"), at.dataframe[1].value
    for c in comps:
        low, high = c.ci_low, c.ci_high
        assert per_set.loc[c.eval_set, "delta"] == pytest.approx(c.delta)
        assert per_set.loc[c.eval_set, "ci_low"] == pytest.approx(low) and per_set.loc[c.eval_set, "p_value"] == pytest.approx(c.p_value)
    assert len(per_label) == sum(len(c.labels) for c in comps)
    at.selectbox(key="compare-a").set_value("noise@1.0").run()
    at.selectbox(key="compare-b").set_value("oracle@1.0").run()
    flipped = at.dataframe[0].value.set_index("eval_set")
    for c in comps:
        low, high = c.ci_low, c.ci_high
        assert flipped.loc[c.eval_set, "delta"] == pytest.approx(-c.delta)
        assert flipped.loc[c.eval_set, "ci_low"] == pytest.approx(-high)
        assert flipped.loc[c.eval_set, "p_value"] == pytest.approx(c.p_value)


def test_compare_page_computes_with_cxrbench_compare_when_nothing_is_stored(app_test, store, monkeypatch):
    import cxrbench.compare

    folder = store / "phantom" / "quick" / "supplement-200@1"
    oracle = read_record(folder / "oracle@1.0.json")
    calls = []

    def fake_compare(a, b, folder_a, folder_b, **kw):
        calls.append((a.submission.name, b.submission.name, folder_a))
        return oracle.comparisons

    monkeypatch.setattr(cxrbench.compare, "compare_records", fake_compare)
    from streamlit.testing.v1 import AppTest

    app = Path(__file__).resolve().parents[2] / "leaderboard" / "cxrbench" / "leaderboard" / "app.py"  # (not `from conftest`: several exist)
    at = AppTest.from_file(str(app), default_timeout=60)
    at.query_params["page"] = "compare"
    at.run()
    at.selectbox(key="compare-task").set_value("phantom/supplement-200").run()
    at.selectbox(key="compare-a").set_value("oracle@1.0").run()
    at.selectbox(key="compare-b").set_value("reference-ddpm@1.0").run()
    assert any("No paired test of these two records is stored" in i.value for i in at.info)
    scores = at.dataframe[0].value  # their own scores (not paired) until the paired test is asked for
    assert len(at.dataframe) == 1 and set(scores["entry"]) == {"oracle@1.0", "reference-ddpm@1.0"}
    at.button(key="compare-compute").click().run()
    assert not at.exception and calls == [("oracle", "reference-ddpm", folder)]
    assert set(at.dataframe[1].value["eval_set"]) == {c.eval_set for c in oracle.comparisons}


def test_every_page_marks_a_record_run_without_the_sandbox(store):
    """A record run with --unsafe-no-sandbox (isolation mode: none): every page names its entry."""
    from leaderboard_fixtures import fill_store
    from streamlit.testing.v1 import AppTest

    record = make_record("phantom/supplement-100", "unboxed")
    record.environment.isolation = {"mode": "none", "reason": "--unsafe-no-sandbox"}
    fill_store(store, [record.seal()])
    app = Path(__file__).resolve().parents[2] / "leaderboard" / "cxrbench" / "leaderboard" / "app.py"
    for slug in ("overview", "delta", "curve", "synthetic", "cross-source", "labels", "subgroups", "audit",
                 "compare", "cost", "submission"):
        at = AppTest.from_file(str(app), default_timeout=60)
        at.query_params["page"] = slug
        at.run()
        assert not at.exception, (slug, [e.value for e in at.exception])
        assert any("mode: none" in w.value and "unboxed@1.0" in w.value for w in at.warning), slug
