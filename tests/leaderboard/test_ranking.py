import pandas as pd

from cxrbench.leaderboard.ranking import (
    CI_OVERLAP,
    PAIRED,
    partly_paired,
    rank_intervals,
    rank_table,
    wins_from_pairwise,
)


def test_rank_intervals_ties_where_not_significant():
    # a beats c significantly; nothing else is significant
    ranks = rank_intervals(["a", "b", "c"], {("a", "c")})
    assert ranks == {"a": (1, 2), "b": (1, 3), "c": (2, 3)}
    assert rank_intervals(["a", "b"], set()) == {"a": (1, 2), "b": (1, 2)}
    assert rank_intervals(["a", "b"], {("b", "a")}) == {"a": (2, 2), "b": (1, 1)}


def test_pairwise_wins_use_holm_and_delta_sign():
    pairs = pd.DataFrame({"a": ["x", "x", "y"], "b": ["y", "z", "z"], "delta": [0.02, -0.03, 0.001],
                          "p_value": [0.01, 0.001, 0.04]})
    # Holm: 0.001*3 = 0.003, 0.01*2 = 0.02, 0.04*1 = 0.04 -> all significant at 0.05
    assert wins_from_pairwise(pairs) == {("x", "y"), ("z", "x"), ("y", "z")}
    pairs.loc[2, "p_value"] = 0.2
    assert wins_from_pairwise(pairs) == {("x", "y"), ("z", "x")}


def test_rank_table_prefers_complete_pairwise_and_falls_back_to_ci():
    scores = pd.DataFrame({"entry": ["a", "b", "c"], "macro_auroc": [0.80, 0.79, 0.70],
                           "ci_low": [0.78, 0.77, 0.68], "ci_high": [0.82, 0.81, 0.72]})
    ranked, method = rank_table(scores, None)
    assert method == CI_OVERLAP
    assert list(ranked["rank"]) == ["1–2", "1–2", "3"]
    pairs = pd.DataFrame({"a": ["a", "a", "b"], "b": ["b", "c", "c"], "delta": [0.01, 0.1, 0.09],
                          "p_value": [0.001, 0.001, 0.001]})
    ranked, method = rank_table(scores, pairs)
    assert method == PAIRED and list(ranked["rank"]) == ["1", "2", "3"]
    # one pair missing: that pair alone falls back to CI overlap (b and c's CIs do not overlap), the
    # others keep their paired tests, and the method says how many fell back
    ranked, method = rank_table(scores, pairs.iloc[:2])
    assert method == partly_paired(1, 3) and list(ranked["rank"]) == ["1", "2", "3"]
    ranked, method = rank_table(scores, pairs.iloc[[1, 2]])  # a vs b not stored: their CIs overlap, a tie
    assert method == partly_paired(1, 3) and list(ranked["rank"]) == ["1–2", "1–2", "3"]
