"""Property tests for every grader: score range, monotonicity, no truth leaks."""

from __future__ import annotations

import math
import re

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from graders import get_grader
from graders.base import format_score
from graders.interval import coverage_label

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])

finite = st.floats(allow_nan=False, allow_infinity=False)
positive = st.floats(min_value=0.0, exclude_min=True, allow_nan=False, allow_infinity=False)
alphas = st.floats(min_value=0.0, max_value=1.0, exclude_min=True, exclude_max=True)
unit = st.floats(min_value=0.0, max_value=1.0)
NUMERIC = ("abs_tol", "rel_tol", "interval")


@st.composite
def tolerance_params(draw: st.DrawFn) -> dict:
    tolerance = draw(positive)
    partial_until = tolerance + draw(st.floats(min_value=0.0, allow_infinity=False))
    assume(math.isfinite(partial_until))
    return {"tolerance": tolerance, "partial_until": partial_until, "hint": draw(st.booleans())}


@st.composite
def interval_params(draw: st.DrawFn) -> dict:
    return {"scale": draw(positive), "alpha": draw(alphas), "pass_score": draw(unit), "hint": draw(st.booleans())}


def params_for(name: str) -> st.SearchStrategy[dict]:
    return interval_params() if name == "interval" else tolerance_params()


@st.composite
def numeric_answers(draw: st.DrawFn) -> dict:
    """Platform-shaped answers: a point, or lower <= value <= upper."""
    if draw(st.booleans()):
        return {"value": draw(finite), "lower": None, "upper": None}
    lower, value, upper = sorted(draw(st.tuples(finite, finite, finite)))
    return {"value": value, "lower": lower, "upper": upper}


def check_grade(grade) -> None:  # type: ignore[no-untyped-def]
    assert type(grade.score) is float
    assert 0.0 <= grade.score <= 1.0
    assert isinstance(grade.correct, bool)


# (a) score is always a float in [0, 1] ----------------------------------------


@SETTINGS
@given(name=st.sampled_from(NUMERIC), data=st.data(), answer=numeric_answers(), truth=finite)
def test_numeric_score_in_unit_interval(name: str, data: st.DataObject, answer: dict, truth: float) -> None:
    g = get_grader(name)
    grade = g.grade(answer, truth, data.draw(params_for(name)))
    check_grade(grade)
    if name != "interval":
        assert grade.correct == (grade.score == 1.0)


@SETTINGS
@given(options=st.lists(st.text(min_size=1).filter(str.strip), min_size=1, max_size=6, unique=True), data=st.data())
def test_choice_score_binary(options: list[str], data: st.DataObject) -> None:
    truth = data.draw(st.sampled_from(options))
    choice = data.draw(st.one_of(st.sampled_from(options), st.text()))
    grade = get_grader("choice").grade({"choice": choice}, truth, {"options": options})
    check_grade(grade)
    assert grade.score in (0.0, 1.0) and grade.correct == (grade.score == 1.0) == (choice == truth)
    assert grade.feedback in ("correct", "incorrect", "not one of the options")


@SETTINGS
@given(answer=st.text(), truth=st.text().filter(str.strip), case=st.booleans(), ws=st.booleans())
def test_text_score_binary(answer: str, truth: str, case: bool, ws: bool) -> None:
    params = {"case_sensitive": case, "normalize_whitespace": ws}
    grade = get_grader("exact_text").grade({"text": answer}, truth, params)
    check_grade(grade)
    assert grade.feedback == ("correct" if grade.correct else "incorrect")
    assert get_grader("exact_text").grade({"text": truth}, truth, params).correct


# (b) score never rises as |value - truth| grows, on either side ----------------


@SETTINGS
@given(name=st.sampled_from(NUMERIC), data=st.data(), xs=st.tuples(finite, finite, finite))
def test_score_monotone_in_error(name: str, data: st.DataObject, xs: tuple[float, float, float]) -> None:
    g = get_grader(name)
    params = g.validate_params(data.draw(params_for(name)))
    a, b, c = sorted(xs)

    def score(value: float, truth: float) -> float:
        return g.grade({"value": value, "lower": None, "upper": None}, truth, params).score

    assert score(b, a) >= score(c, a)  # values above the truth, b closer
    assert score(b, c) >= score(a, c)  # values below the truth, b closer
    assert score(a, a) == 1.0 or name == "interval"


# (f) feedback never reveals the truth --------------------------------------------


def strip_allowed_numbers(feedback: str, score: float, params: dict) -> str:
    """Remove the only numbers feedback may contain: the score and the coverage label."""
    score_text = f"score {format_score(score)}"
    assert feedback.count(score_text) == 1
    rest = feedback.replace(score_text, "")
    if "alpha" in params:
        rest = rest.replace(f"your {coverage_label(params['alpha'])} interval", "")
    return rest


@SETTINGS
@given(name=st.sampled_from(NUMERIC), data=st.data(), answer=numeric_answers(), truth=finite)
def test_feedback_has_no_other_numbers(name: str, data: st.DataObject, answer: dict, truth: float) -> None:
    g = get_grader(name)
    params = g.validate_params({**data.draw(params_for(name)), "hint": True})
    grade = g.grade(answer, truth, params)
    assert not re.search(r"\d", strip_allowed_numbers(grade.feedback, grade.score, params))


@st.composite
def four_digit_truths(draw: st.DrawFn) -> float:
    """Truths with >= 4 significant digits whose short forms cannot coincide
    with a 2-decimal score or a percentage (|truth| >= 1000 or <= 1e-3)."""
    mantissa = draw(st.integers(min_value=1001, max_value=9999).filter(lambda n: n % 10))
    exponent = draw(st.one_of(st.integers(min_value=0, max_value=12), st.integers(min_value=-15, max_value=-6)))
    sign = draw(st.sampled_from([1, -1]))
    return sign * mantissa * 10.0**exponent


@SETTINGS
@given(
    name=st.sampled_from(NUMERIC),
    truth=four_digit_truths(),
    rel_offset=st.floats(min_value=-2.0, max_value=2.0),
    rel_width=st.floats(min_value=0.0, max_value=1.0),
    data=st.data(),
)
def test_feedback_never_contains_truth(
    name: str, truth: float, rel_offset: float, rel_width: float, data: st.DataObject
) -> None:
    g = get_grader(name)
    value = truth * (1 + rel_offset)
    half = abs(truth) * rel_width
    answers = [
        {"value": value, "lower": None, "upper": None},
        {"value": value, "lower": value - half, "upper": value + half},
    ]
    if name == "interval":
        params = {"scale": abs(truth) * data.draw(st.floats(0.01, 100.0)), "alpha": 0.1, "hint": True}
    else:
        params = {"tolerance": data.draw(st.floats(0.001, 0.5)) * (abs(truth) if name == "abs_tol" else 1), "hint": True}
    for answer in answers:
        feedback = g.grade(answer, truth, params).feedback
        for form in (str(truth), repr(truth), f"{truth:.3g}", f"{truth:g}", f"{abs(truth):.3g}"):
            assert form not in feedback
