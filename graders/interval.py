"""`interval` grader: the weighted interval score (Gneiting & Raftery 2007).

With a median m and one central (1 - alpha) interval [l, u]:

    IS_alpha = (u - l) + (2/alpha)(l - y)[y < l] + (2/alpha)(y - u)[y > u]
    WIS      = (|y - m| / 2 + (alpha/2) IS_alpha) / 1.5

WIS is a proper scoring rule, so scholars do best by reporting honest
intervals.  A point answer is the zero-width interval l = u = m, for which
WIS = |y - m| exactly, so point and interval answers share one scale.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

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


def interval_score(y: float, lower: float, upper: float, alpha: float) -> float:
    """IS_alpha for one central (1 - alpha) interval; lower is better.

    The penalty is only multiplied when the interval misses, so a covering
    interval never produces inf * 0 = NaN for tiny alpha.
    """
    score = upper - lower
    if y < lower:
        score += (2.0 / alpha) * (lower - y)
    elif y > upper:
        score += (2.0 / alpha) * (y - upper)
    return score


def weighted_interval_score(y: float, m: float, lower: float, upper: float, alpha: float) -> float:
    """WIS for a median plus one central (1 - alpha) interval; lower is better.

    Computed in the algebraically expanded form
        (|y - m|/2 + (alpha/2)(u - l) + miss) / 1.5,  miss = distance from y to [l, u],
    which equals the textbook formula but never forms 2/alpha (overflow for
    tiny alpha) and is exactly monotone in each term, so floating point keeps
    the properties the tests check (e.g. WIS ~= |y - m| for zero width).
    """
    # Every term is pre-scaled by 1/4 (exact in binary) and the sum scaled back
    # at the end, so no intermediate overflows when the result is representable
    # (e.g. zero width with |y - m| near the float maximum).
    width = upper - lower
    if math.isinf(width):  # (alpha/8) * inf with alpha/8 underflowing to 0 would be NaN
        spread = 0.125 * alpha * upper - 0.125 * alpha * lower
    else:
        spread = 0.125 * alpha * width
    if y < lower:
        miss = lower - y
    elif y > upper:
        miss = y - upper
    else:
        miss = 0.0
    return 4.0 * ((0.125 * abs(y - m) + spread + 0.25 * miss) / 1.5)


def coverage_label(alpha: float) -> str:
    """'90%' for alpha = 0.1: how scholars see the interval they were asked for."""
    return f"{(1.0 - alpha) * 100:.4g}%"


def _params(raw: Mapping[str, Any]) -> dict:
    return {
        "scale": finite(raw, "scale", low=0.0, low_open=True),
        "alpha": finite(raw, "alpha", default=0.1, low=0.0, high=1.0, low_open=True, high_open=True),
        "pass_score": finite(raw, "pass_score", default=0.5, low=0.0, high=1.0),
        "hint": flag(raw, "hint", default=False),
    }


def _check_truth(truth: Any, params: dict) -> None:
    finite_truth(truth)


def _grade(answer: Mapping[str, Any], truth: Any, params: dict) -> Grade:
    y = float(truth)
    m = float(answer["value"])
    raw_lower, raw_upper = answer.get("lower"), answer.get("upper")
    is_point = raw_lower is None and raw_upper is None
    # A missing bound collapses to the median (platform normally sends both or neither).
    lower = m if raw_lower is None else float(raw_lower)
    upper = m if raw_upper is None else float(raw_upper)
    alpha = params["alpha"]

    wis = weighted_interval_score(y, m, lower, upper, alpha)
    score = max(0.0, min(1.0, 1.0 - wis / params["scale"]))
    correct = score >= params["pass_score"]

    # Never print the WIS: for a point answer it equals |y - m| and leaks the truth.
    parts = [f"score {format_score(score)}"]
    if is_point:
        parts.append("point answer (no interval)")
    elif lower <= y <= upper:
        parts.append(f"your {coverage_label(alpha)} interval covers the truth")
    else:
        parts.append(f"your {coverage_label(alpha)} interval does not cover the truth")
    if params["hint"] and not correct and direction(m, y):
        parts.append(direction(m, y))
    return Grade(score=score, correct=correct, feedback="; ".join(parts))


INTERVAL = register(
    Grader(
        name="interval",
        kinds=frozenset({"numeric", "interval"}),
        description="Weighted interval score of the estimate and its central interval, scaled to [0, 1].",
        param_doc={
            "scale": "required; WIS at which the score reaches 0 (finite > 0, in the answer's units)",
            "alpha": "interval is the central (1 - alpha) interval, e.g. 0.1 for 90% (in (0, 1); default 0.1)",
            "pass_score": "answer counts as correct when score >= pass_score (in [0, 1]; default 0.5)",
            "hint": "if true, failing answers are told whether the estimate is 'too high' or 'too low' (default false)",
        },
        parse_params=_params,
        check_truth=_check_truth,
        score_answer=_grade,
    )
)
