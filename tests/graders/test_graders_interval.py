"""interval grader and the WIS helpers: hand-computed examples and errors."""

from __future__ import annotations

import math

import pytest

from graders import GraderParamsError, get_grader, interval_score, weighted_interval_score

G = get_grader("interval")


def run(value: float, truth: float, lower: float | None = None, upper: float | None = None, **params):  # type: ignore[no-untyped-def]
    return G.grade({"value": value, "lower": lower, "upper": upper}, truth, G.validate_params(params))


def test_defaults() -> None:
    assert G.validate_params({"scale": 3}) == {"scale": 3.0, "alpha": 0.1, "pass_score": 0.5, "hint": False}


def test_interval_score_examples() -> None:
    assert interval_score(1.0, 0.0, 2.0, 0.1) == 2.0  # covered: width only
    assert interval_score(5.0, 0.0, 2.0, 0.1) == pytest.approx(2.0 + 20.0 * 3.0)
    assert interval_score(-1.0, 0.0, 2.0, 0.5) == pytest.approx(2.0 + 4.0 * 1.0)


def test_interval_score_tiny_alpha_covered_is_not_nan() -> None:
    assert interval_score(1.0, 0.0, 2.0, 5e-324) == 2.0
    assert interval_score(3.0, 0.0, 2.0, 5e-324) == math.inf


def test_wis_example() -> None:
    # (|5-1|/2 + 0.05 * 62) / 1.5 = (2 + 3.1) / 1.5
    assert weighted_interval_score(5.0, 1.0, 0.0, 2.0, 0.1) == pytest.approx(3.4)
    # covered: (0.25 + 0.05 * 2) / 1.5
    assert weighted_interval_score(1.5, 1.0, 0.0, 2.0, 0.1) == pytest.approx(0.35 / 1.5)


def test_wis_zero_width_is_absolute_error_algebra() -> None:
    # l = u = m: IS = (2/alpha)|y - m|, so (|y-m|/2 + |y-m|) / 1.5 = |y-m|
    for alpha in (0.02, 0.1, 0.5, 0.9):
        for y, m in ((3.0, 2.0), (-7.25, 4.5), (0.0, 0.0)):
            textbook = (abs(y - m) / 2 + alpha / 2 * interval_score(y, m, m, alpha)) / 1.5
            assert textbook == pytest.approx(abs(y - m))
            assert weighted_interval_score(y, m, m, m, alpha) == pytest.approx(abs(y - m))


def test_wis_no_overflow_near_float_max() -> None:
    assert weighted_interval_score(1.7e308, 0.0, 0.0, 0.0, 0.1) == pytest.approx(1.7e308)
    assert math.isfinite(weighted_interval_score(0.0, 0.0, -1.7e308, 1.7e308, 0.9))
    assert weighted_interval_score(0.0, 0.0, -1.7e308, 1.7e308, 5e-324) >= 0.0


def test_missed_interval_grade() -> None:
    g = run(1.0, 5.0, 0.0, 2.0, scale=4)  # WIS 3.4 -> 1 - 3.4/4 = 0.15
    assert g.score == pytest.approx(0.15)
    assert not g.correct
    assert g.feedback == "score 0.15; your 90% interval does not cover the truth"


def test_missed_interval_hint() -> None:
    assert run(1.0, 5.0, 0.0, 2.0, scale=4, hint=True).feedback.endswith("does not cover the truth; too low")
    assert run(1.0, -5.0, 0.0, 2.0, scale=4, hint=True).feedback.endswith("; too high")


def test_covered_interval_grade() -> None:
    g = run(1.0, 1.5, 0.0, 2.0, scale=1)  # 1 - 0.35/1.5
    assert g.score == pytest.approx(1 - 0.35 / 1.5)
    assert g.correct
    assert g.feedback == "score 0.76; your 90% interval covers the truth"


def test_point_answer_grade() -> None:
    g = run(2.0, 3.0, scale=4, hint=True)  # WIS = |3 - 2| = 1
    assert g.score == pytest.approx(0.75)
    assert g.correct
    assert g.feedback == "score 0.75; point answer (no interval)"


def test_pass_score_and_alpha_label() -> None:
    g = run(2.0, 3.0, scale=4, pass_score=0.8)
    assert not g.correct
    assert "95% interval" in run(1.0, 1.5, 0.0, 2.0, scale=1, alpha=0.05).feedback
    assert run(2.0, 3.0, scale=4, pass_score=0.0).correct
    assert run(2.0, 2.0, scale=4, pass_score=1.0).correct


def test_perfect_centre_but_too_wide_gives_no_direction() -> None:
    g = run(0.0, 0.0, -100.0, 100.0, scale=1, hint=True)  # WIS = 0.05*200/1.5 > scale
    assert g.score == 0.0 and not g.correct
    assert "too" not in g.feedback
    assert "covers the truth" in g.feedback


def test_one_sided_interval_collapses_missing_bound() -> None:
    a = run(1.0, 3.0, None, 2.0, scale=10)
    b = run(1.0, 3.0, 1.0, 2.0, scale=10)
    assert a.score == b.score


@pytest.mark.parametrize(
    "raw, message",
    [
        ({}, "scale is required (a finite number > 0)"),
        ({"scale": 0}, "scale must be a finite number > 0"),
        ({"scale": -2}, "scale must be a finite number > 0"),
        ({"scale": math.nan}, "scale must be a finite number > 0"),
        ({"scale": math.inf}, "scale must be a finite number > 0"),
        ({"scale": True}, "scale must be a finite number > 0"),
        ({"scale": "2"}, "scale must be a finite number > 0"),
        ({"scale": 1, "alpha": 0}, "alpha must be a finite number in (0, 1)"),
        ({"scale": 1, "alpha": 1}, "alpha must be a finite number in (0, 1)"),
        ({"scale": 1, "alpha": 1.5}, "alpha must be a finite number in (0, 1)"),
        ({"scale": 1, "alpha": -0.1}, "alpha must be a finite number in (0, 1)"),
        ({"scale": 1, "alpha": math.nan}, "alpha must be a finite number in (0, 1)"),
        ({"scale": 1, "pass_score": -0.1}, "pass_score must be a finite number in [0, 1]"),
        ({"scale": 1, "pass_score": 1.1}, "pass_score must be a finite number in [0, 1]"),
        ({"scale": 1, "pass_score": False}, "pass_score must be a finite number in [0, 1]"),
        ({"scale": 1, "hint": 0}, "hint must be true or false"),
        ({"scale": 1, "width": 2}, "unknown parameter 'width'; known: alpha, hint, pass_score, scale"),
    ],
)
def test_bad_params(raw: dict, message: str) -> None:
    with pytest.raises(GraderParamsError) as info:
        G.validate_params(raw)
    assert str(info.value) == f"grader 'interval': {message}"


def test_edge_params_accepted() -> None:
    assert G.validate_params({"scale": 1e-300, "alpha": 0.999, "pass_score": 0})["pass_score"] == 0.0
    assert G.validate_params({"scale": 1, "pass_score": 1})["pass_score"] == 1.0


@pytest.mark.parametrize("truth", [math.nan, math.inf, True, "1.0", None])
def test_bad_truth(truth: object) -> None:
    with pytest.raises(GraderParamsError, match="^grader 'interval': truth must be a finite number$"):
        G.validate_truth(truth, {"scale": 1})
