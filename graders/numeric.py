"""Tolerance graders for point estimates: `abs_tol` and `rel_tol`.

Both share one scoring rule (full credit within `tolerance`, linear decay to 0
at `partial_until`); they differ only in how the error is measured.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Mapping

from graders.base import (
    Grade,
    Grader,
    direction,
    finite,
    finite_truth,
    flag,
    format_score,
    register,
)

ErrorFn = Callable[[float, float], float]
_BELOW_ONE = math.nextafter(1.0, 0.0)


def _params(raw: Mapping[str, Any]) -> dict:
    tolerance = finite(raw, "tolerance", low=0.0, low_open=True)
    partial_until = finite(raw, "partial_until", default=tolerance, low=tolerance, low_name="tolerance")
    return {"tolerance": tolerance, "partial_until": partial_until, "hint": flag(raw, "hint", default=False)}


def _check_truth(truth: Any, params: dict) -> None:
    finite_truth(truth)


def tolerance_score(err: float, tolerance: float, partial_until: float) -> float:
    """1 within tolerance, then linear to 0 at partial_until (a step if they are equal).

    Written so it is monotone non-increasing in `err` even in floating point
    and never NaN: err may be inf when value - truth overflows.
    """
    if err <= tolerance:
        return 1.0
    if err >= partial_until:
        return 0.0
    # Cap just below 1: for a huge partial_until the decay rounds to 1.0, and a
    # wrong answer must never score as much as a right one.
    return min(_BELOW_ONE, max(0.0, 1.0 - (err - tolerance) / (partial_until - tolerance)))


def abs_error(value: float, truth: float) -> float:
    """|value - truth|."""
    return abs(value - truth)


def rel_error(value: float, truth: float) -> float:
    """|value - truth| / |truth|.

    For truth == 0 the relative error is undefined (every non-zero answer would
    be infinitely wrong), so we fall back to the absolute error: the tolerance
    then acts as an absolute one, which is the only meaningful reading.
    """
    diff = abs(value - truth)
    return diff if truth == 0 else diff / abs(truth)


def _make_grade_fn(error: ErrorFn) -> Callable[[Mapping[str, Any], Any, dict], Grade]:
    def grade(answer: Mapping[str, Any], truth: Any, params: dict) -> Grade:
        value = float(answer["value"])
        y = float(truth)
        err = error(value, y)
        score = tolerance_score(err, params["tolerance"], params["partial_until"])
        correct = err <= params["tolerance"]
        if correct:
            text = "within tolerance"
        elif score > 0:
            text = "outside tolerance; partial credit"
        else:
            text = "outside tolerance"
        text += f" (score {format_score(score)})"
        if params["hint"] and not correct and direction(value, y):
            text += f"; {direction(value, y)}"
        return Grade(score=score, correct=correct, feedback=text)

    return grade


_PARAM_DOC_ABS = {
    "tolerance": "required; full credit when |answer - truth| <= tolerance (finite > 0)",
    "partial_until": "absolute error at which partial credit reaches 0 (>= tolerance; default = tolerance, i.e. all-or-nothing)",
    "hint": "if true, wrong answers are told 'too high' or 'too low' (default false)",
}

_PARAM_DOC_REL = {
    "tolerance": "required; full credit when |answer - truth| / |truth| <= tolerance (finite > 0; absolute error if truth is 0)",
    "partial_until": "relative error at which partial credit reaches 0 (>= tolerance; default = tolerance, i.e. all-or-nothing)",
    "hint": "if true, wrong answers are told 'too high' or 'too low' (default false)",
}

ABS_TOL = register(
    Grader(
        name="abs_tol",
        kinds=frozenset({"numeric", "interval"}),
        description="Absolute tolerance on the point estimate, with optional linear partial credit.",
        param_doc=_PARAM_DOC_ABS,
        parse_params=_params,
        check_truth=_check_truth,
        score_answer=_make_grade_fn(abs_error),
    )
)

REL_TOL = register(
    Grader(
        name="rel_tol",
        kinds=frozenset({"numeric", "interval"}),
        description="Relative tolerance on the point estimate (absolute if the truth is 0), with optional partial credit.",
        param_doc=_PARAM_DOC_REL,
        parse_params=_params,
        check_truth=_check_truth,
        score_answer=_make_grade_fn(rel_error),
    )
)
