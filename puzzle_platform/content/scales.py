"""What the mentor overview says about a figure's statistics: their definitions and a
suggested grader scale per numeric question. Mentors only: everything here shows the truth.

The suggestion (documented in the README, "Mentors: the mentor area"):
  magnitude M = max(|truth|, spread), spread = the figure's standard deviation companion of
  the statistic when its artifact has one (the name with its last "mean" turned into "std":
  mean_cos -> std_cos, centered_mean_cos -> centered_std_cos, mean -> std);
  interval: scale = M;  abs_tol: tolerance = M / 10;  rel_tol: tolerance = 0.1
  (M / 10 when the truth is 0, where rel_tol compares absolutely);
  each rounded to one significant digit. No suggestion when M is 0 or not a finite number.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from ..models import Question
from ..recipes import RecipeError, get_recipe

REL_TOL = 0.1


@dataclass(frozen=True)
class Suggestion:
    param: str          # the grader parameter it is for: scale or tolerance
    current: object
    value: float
    why: str


def one_digit(x: float) -> float:
    """x rounded to one significant digit (0.27 -> 0.3, 0.0449 -> 0.04, 1234 -> 1000)."""
    return float(f"{x:.0e}")


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def spread_of(stat_name: str, statistics: dict | None) -> tuple[str, float] | None:
    """(name, value) of the statistic's standard-deviation companion in `statistics`, if any."""
    if not statistics or "mean" not in stat_name:
        return None
    head, _, tail = stat_name.rpartition("mean")
    name = f"{head}std{tail}"
    value = _number(statistics.get(name))
    return (name, abs(value)) if value is not None else None


def suggest(question: Question, truth: object, statistics: dict | None) -> Suggestion | None:
    """The suggested scale (interval) or tolerance (abs_tol, rel_tol) for a numeric question."""
    if question.grader not in ("interval", "abs_tol", "rel_tol"):
        return None
    value = _number(truth)
    if value is None:
        return None
    spread = spread_of(question.stat_name, statistics) if question.statistic else None
    magnitude = max(abs(value), spread[1] if spread else 0.0)
    why = f"|truth| = {abs(value):.3g}" + (f", {spread[0]} = {spread[1]:.3g}" if spread else "")
    if question.grader == "rel_tol" and value != 0:
        return Suggestion("tolerance", question.grader_params.get("tolerance"), REL_TOL, "a 10% relative error")
    if magnitude == 0 or not math.isfinite(magnitude):
        return None
    if question.grader == "interval":
        return Suggestion("scale", question.grader_params.get("scale"), one_digit(magnitude), why)
    return Suggestion("tolerance", question.grader_params.get("tolerance"), one_digit(magnitude / 10),
                      f"a tenth of max({why})")


def statistic_definition(recipe: str, name: str) -> str:
    """The recipe's definition of statistic `name` ("" if unknown, e.g. a puzzle-local recipe)."""
    try:
        return get_recipe(recipe).definition(name)
    except RecipeError:
        return ""
