"""Every surface formats the record's own numbers; stars and verdicts have one definition."""

from cxrbench.presentation import delta_ci, p_text, verdict_text
from cxrbench.results import Comparison, stars
from cxrbench.runner.score import verdict


def _comp(**kw):
    base = dict(eval_set="internal_test", against="phantom/supplement-0", delta=0.021, ci_low=0.009, ci_high=0.033,
                p_value=0.004, mde=0.015, method="m")
    return Comparison(**{**base, **kw})


def test_stars_follow_the_p_value_only():
    assert [stars(p) for p in (0.0004, 0.004, 0.04, 0.06, None, float("nan"))] == ["***", "**", "*", "", "", ""]
    assert _comp().stars == "**" and p_text(0.004) == "0.004**" and p_text(0.0002) == "<0.001***"


def test_delta_is_printed_with_the_ci_of_its_own_test():
    assert delta_ci(_comp()) == "+0.021 [+0.009, +0.033]"


def test_verdicts():
    assert verdict(0.03, 0.001, 0.01) == ("better", None) and verdict(-0.03, 0.001, 0.01) == ("worse", None)
    assert verdict(0.01, 0.2, 0.015) == ("no_detectable_difference", None)
    assert verdict(0.01, 0.2, 0.034) == ("inconclusive", None)
    assert verdict(0.01, 0.2, None, "zero variance") == ("inconclusive", "zero variance")
    assert verdict_text(_comp(verdict="inconclusive", mde=0.034)) == "inconclusive (MDE 0.034)"


def test_a_verdict_without_a_test_says_why_on_every_surface():
    """No p-value (too few seeds): inconclusive with the record's reason, never a star."""
    reason = "too few seeds (1); use ≥ 3, ≥ 5 for per-label tests"
    assert verdict(0.05, None, None, reason) == ("inconclusive", reason)
    comp = _comp(p_value=None, ci_low=None, ci_high=None, mde=None, verdict="inconclusive", verdict_reason=reason)
    assert verdict_text(comp) == f"inconclusive: {reason}" and comp.stars == "" and p_text(comp.p_value) == "—"
