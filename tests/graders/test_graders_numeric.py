"""abs_tol and rel_tol: hand-computed examples and parameter errors."""

from __future__ import annotations

import math

import pytest

from graders import GraderParamsError, get_grader
from graders.base import format_score

ABS = get_grader("abs_tol")
REL = get_grader("rel_tol")


def point(value: float) -> dict:
    return {"value": value, "lower": None, "upper": None}


def grade(g, value: float, truth: float, **params):  # type: ignore[no-untyped-def]
    return g.grade(point(value), truth, g.validate_params(params))


def test_defaults() -> None:
    assert ABS.validate_params({"tolerance": 2}) == {"tolerance": 2.0, "partial_until": 2.0, "hint": False}
    assert REL.validate_params({"tolerance": 0.1, "partial_until": None}) == {
        "tolerance": 0.1,
        "partial_until": 0.1,
        "hint": False,
    }


@pytest.mark.parametrize(
    "value, score, correct",
    [
        (10.0, 1.0, True),
        (10.5, 1.0, True),
        (11.0, 1.0, True),  # err == tolerance counts as within
        (9.0, 1.0, True),
        (12.0, 0.5, False),  # halfway from tolerance 1 to partial_until 3
        (7.5, 0.25, False),
        (7.0, 0.0, False),
        (13.5, 0.0, False),
    ],
)
def test_abs_tol_partial_credit(value: float, score: float, correct: bool) -> None:
    g = grade(ABS, value, 10.0, tolerance=1, partial_until=3)
    assert g.score == pytest.approx(score)
    assert g.correct is correct


def test_abs_tol_binary_by_default() -> None:
    assert grade(ABS, 11.0, 10.0, tolerance=1).score == 1.0
    g = grade(ABS, 11.0001, 10.0, tolerance=1)
    assert (g.score, g.correct) == (0.0, False)


def test_abs_tol_feedback_texts() -> None:
    assert grade(ABS, 10.2, 10.0, tolerance=1).feedback == "within tolerance (score 1.00)"
    assert grade(ABS, 12.0, 10.0, tolerance=1, partial_until=3).feedback == "outside tolerance; partial credit (score 0.50)"
    assert grade(ABS, 20.0, 10.0, tolerance=1).feedback == "outside tolerance (score 0.00)"


def test_hint_direction_only_when_wrong() -> None:
    assert grade(ABS, 12.0, 10.0, tolerance=1, hint=True).feedback.endswith("; too high")
    assert grade(ABS, 8.0, 10.0, tolerance=1, hint=True).feedback.endswith("; too low")
    assert "too" not in grade(ABS, 10.5, 10.0, tolerance=1, hint=True).feedback
    assert "too" not in grade(ABS, 12.0, 10.0, tolerance=1).feedback
    assert grade(REL, 0.5, 1.0, tolerance=0.1, hint=True).feedback.endswith("; too low")


@pytest.mark.parametrize(
    "value, truth, score, correct",
    [
        (210.0, 200.0, 1.0, True),  # rel err 0.05
        (240.0, 200.0, 0.5, False),  # 0.2: halfway between 0.1 and 0.3
        (140.0, 200.0, 0.0, False),  # 0.3
        (-55.0, -50.0, 1.0, True),  # 5/50 == 0.1 == tolerance
        (-40.0, -50.0, 0.5, False),  # 0.2
    ],
)
def test_rel_tol_examples(value: float, truth: float, score: float, correct: bool) -> None:
    g = grade(REL, value, truth, tolerance=0.1, partial_until=0.3)
    assert g.score == pytest.approx(score)
    assert g.correct is correct


def test_rel_tol_zero_truth_uses_absolute_error() -> None:
    assert grade(REL, 0.25, 0.0, tolerance=0.5).correct
    assert grade(REL, -0.5, 0.0, tolerance=0.5).correct
    g = grade(REL, -1.0, 0.0, tolerance=0.5, partial_until=1.5, hint=True)
    assert g.score == pytest.approx(0.5)
    assert g.feedback.endswith("too low")


def test_interval_answer_uses_point_value_only() -> None:
    g = ABS.grade({"value": 10.0, "lower": -1e9, "upper": 1e9}, 10.5, ABS.validate_params({"tolerance": 1}))
    assert g.correct and g.score == 1.0


def test_extreme_values_do_not_produce_nan() -> None:
    g = grade(ABS, 1.7e308, -1.7e308, tolerance=1, partial_until=1e300)
    assert g.score == 0.0
    g = grade(REL, 1e308, 5e-324, tolerance=1e-300, partial_until=1e300)
    assert g.score == 0.0


@pytest.mark.parametrize("g", [ABS, REL], ids=["abs_tol", "rel_tol"])
@pytest.mark.parametrize(
    "raw, message",
    [
        ({}, "tolerance is required (a finite number > 0)"),
        ({"tolerance": None}, "tolerance is required"),
        ({"tolerance": 0}, "tolerance must be a finite number > 0"),
        ({"tolerance": -1.0}, "tolerance must be a finite number > 0"),
        ({"tolerance": math.nan}, "tolerance must be a finite number > 0"),
        ({"tolerance": math.inf}, "tolerance must be a finite number > 0"),
        ({"tolerance": True}, "tolerance must be a finite number > 0"),
        ({"tolerance": "1"}, "tolerance must be a finite number > 0"),
        ({"tolerance": 10**400}, "tolerance must be a finite number > 0"),
        ({"tolerance": 1, "partial_until": 0.5}, "partial_until must be a finite number >= tolerance"),
        ({"tolerance": 1, "partial_until": math.inf}, "partial_until must be a finite number >= tolerance"),
        ({"tolerance": 1, "partial_until": False}, "partial_until must be a finite number >= tolerance"),
        ({"tolerance": 1, "hint": 1}, "hint must be true or false"),
        ({"tolerance": 1, "hint": "yes"}, "hint must be true or false"),
        ({"tolerance": 1, "tol": 1}, "unknown parameter 'tol'; known: hint, partial_until, tolerance"),
    ],
)
def test_bad_params(g, raw: dict, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(GraderParamsError) as info:
        g.validate_params(raw)
    assert str(info.value).startswith(f"grader '{g.name}': {message}")


@pytest.mark.parametrize("truth", [math.nan, math.inf, -math.inf, True, "3", None, [1.0]])
def test_bad_numeric_truth(truth: object) -> None:
    for g in (ABS, REL):
        with pytest.raises(GraderParamsError, match=rf"^grader '{g.name}': truth must be a finite number$"):
            g.validate_truth(truth, {"tolerance": 1})


def test_good_numeric_truth() -> None:
    for truth in (0, 0.0, -3, 1e308, 5e-324):
        REL.validate_truth(truth, {"tolerance": 1})


@pytest.mark.parametrize(
    "score, text",
    [(1.0, "1.00"), (0.999999, "0.99"), (0.29, "0.29"), (0.5, "0.50"), (0.8666, "0.86"), (0.0, "0.00"), (1e-9, "0.00")],
)
def test_format_score_rounds_down(score: float, text: str) -> None:
    assert format_score(score) == text
