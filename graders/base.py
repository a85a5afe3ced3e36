"""Core types, the grader registry and shared parameter-validation helpers.

Graders are plain data (a frozen dataclass of functions) so the platform can
list them, describe them to mentors and call them without knowing any
concrete grader.  Parameter checks live here once, so every grader rejects
bad input with the same wording.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

KINDS: frozenset[str] = frozenset({"numeric", "interval", "choice", "text"})


class GraderParamsError(ValueError):
    """Params or a truth value a grader cannot work with (mentor-facing)."""


class UnknownGrader(ValueError):
    """No grader is registered under the requested name."""


class ParamProblem(ValueError):
    """Raised by helpers and grader functions; Grader adds its name and re-raises
    it as GraderParamsError, so individual graders never format the prefix."""


@dataclass(frozen=True)
class Grade:
    """Outcome of grading one answer.  Score is clamped by contract, not by callers."""

    score: float
    correct: bool
    feedback: str

    def __post_init__(self) -> None:
        if isinstance(self.score, bool) or not isinstance(self.score, numbers.Real):
            raise TypeError(f"score must be a real number, got {self.score!r}")
        score = float(self.score)
        if not 0.0 <= score <= 1.0:  # also rejects NaN
            raise ValueError(f"score must be in [0, 1], got {score!r}")
        object.__setattr__(self, "score", score)
        if not isinstance(self.correct, bool):
            raise TypeError("correct must be a bool")
        if not isinstance(self.feedback, str):
            raise TypeError("feedback must be a str")


ParamsFn = Callable[[Mapping[str, Any]], dict]
TruthFn = Callable[[Any, dict], None]
GradeFn = Callable[[Mapping[str, Any], Any, dict], Grade]


@dataclass(frozen=True)
class Grader:
    """A named scoring rule.

    The three function fields hold the grader-specific logic; the methods wrap
    them so unknown keys, error prefixes and re-validation are handled once.
    """

    name: str
    kinds: frozenset[str]
    description: str
    param_doc: dict[str, str] = field(compare=False, hash=False)
    parse_params: ParamsFn = field(repr=False)
    check_truth: TruthFn = field(repr=False)
    score_answer: GradeFn = field(repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "kinds", frozenset(self.kinds))
        if not self.kinds or not self.kinds <= KINDS:
            raise ValueError(f"grader {self.name!r}: kinds must be a non-empty subset of {sorted(KINDS)}")

    def _fail(self, problem: Exception) -> GraderParamsError:
        return GraderParamsError(f"grader '{self.name}': {problem}")

    def validate_params(self, raw: Mapping[str, Any]) -> dict:
        """Return normalised params with defaults filled; idempotent."""
        if not isinstance(raw, Mapping):
            raise self._fail(ParamProblem(f"params must be a mapping, got {type(raw).__name__}"))
        unknown = sorted(repr(k) for k in raw if k not in self.param_doc)
        if unknown:
            known = ", ".join(sorted(self.param_doc)) or "(none)"
            shown = ", ".join(n[:40] + ("..." if len(n) > 40 else "") for n in unknown[:5])
            raise self._fail(ParamProblem(f"unknown parameter {shown}; known: {known}"))
        try:
            return self.parse_params(raw)
        except ParamProblem as exc:
            raise self._fail(exc) from None

    def validate_truth(self, truth: Any, params: Mapping[str, Any]) -> None:
        """Raise GraderParamsError if `truth` cannot be graded against."""
        clean = self.validate_params(params)
        try:
            self.check_truth(truth, clean)
        except ParamProblem as exc:
            raise self._fail(exc) from None

    def grade(self, answer: Mapping[str, Any], truth: Any, params: Mapping[str, Any]) -> Grade:
        """Score one (platform-validated) answer.

        Params and truth are re-validated: it is cheap, idempotent, and means a
        caller holding raw stored params still gets defaults and clear errors.
        """
        clean = self.validate_params(params)
        self.validate_truth(truth, clean)
        return self.score_answer(answer, truth, clean)


GRADERS: dict[str, Grader] = {}


def register(grader: Grader) -> Grader:
    """Add a grader to the registry; duplicate names are a programming error."""
    if grader.name in GRADERS:
        raise ValueError(f"grader '{grader.name}' is already registered")
    GRADERS[grader.name] = grader
    return grader


def grader_names() -> list[str]:
    """Registered names, sorted (stable order for forms and error messages)."""
    return sorted(GRADERS)


def get_grader(name: str) -> Grader:
    """Look up a grader by name, listing the known ones on failure."""
    try:
        return GRADERS[name]
    except (KeyError, TypeError):
        raise UnknownGrader(f"unknown grader {str(name)!r}; known: {', '.join(grader_names())}") from None


# --------------------------------------------------------------------------
# Shared validation helpers.  They raise ParamProblem; Grader adds the prefix.

REQUIRED: Any = object()


def _fmt(x: float) -> str:
    return f"{x:g}"


def _rule(low: float | None, high: float | None, low_open: bool, high_open: bool, low_name: str | None) -> str:
    lo = low_name if low_name is not None else (None if low is None else _fmt(low))
    if high is None:
        return f"{'>' if low_open else '>='} {lo}" if lo is not None else ""
    if lo is None:
        return f"{'<' if high_open else '<='} {_fmt(high)}"
    return f"in {'(' if low_open else '['}{lo}, {_fmt(high)}{')' if high_open else ']'}"


def as_real(value: Any) -> float | None:
    """Finite float for a real, non-bool number; None otherwise.

    bool is excluded because JSON/form `true` silently becoming 1.0 hides mistakes.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    try:
        out = float(value)
    except (OverflowError, ValueError):
        return None
    return out if math.isfinite(out) else None


def finite(
    raw: Mapping[str, Any],
    key: str,
    *,
    default: Any = REQUIRED,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    low_name: str | None = None,
) -> float:
    """Read a finite number within bounds; absent or None means `default`.

    `low_name` names a bound that is another param (e.g. "tolerance") so the
    message reads ">= tolerance" rather than an opaque number.
    """
    rule = _rule(low, high, low_open, high_open, low_name)
    what = f"a finite number {rule}".rstrip()
    value = raw.get(key)
    if value is None:
        if default is REQUIRED:
            raise ParamProblem(f"{key} is required ({what})")
        return default
    num = as_real(value)
    ok = num is not None
    if ok and low is not None:
        ok = num > low if low_open else num >= low
    if ok and high is not None:
        ok = num < high if high_open else num <= high
    if not ok:
        raise ParamProblem(f"{key} must be {what}")
    return num  # type: ignore[return-value]


def flag(raw: Mapping[str, Any], key: str, *, default: bool) -> bool:
    """Read a strict bool (no 0/1 or "yes"): absent or None means `default`."""
    value = raw.get(key)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise ParamProblem(f"{key} must be true or false")
    return value


def string_list(raw: Mapping[str, Any], key: str) -> list[str]:
    """Read a required non-empty list of distinct, non-blank strings."""
    value = raw.get(key)
    if value is None:
        raise ParamProblem(f"{key} is required (a non-empty list of distinct strings)")
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        raise ParamProblem(f"{key} must be a list of strings")
    if not value:
        raise ParamProblem(f"{key} must not be empty")
    seen: set[str] = set()
    for item in value:
        if not isinstance(item, str) or not item.strip():
            raise ParamProblem(f"{key} must contain only non-empty strings")
        if item in seen:
            raise ParamProblem(f"{key} contains a duplicate: {item!r}")
        seen.add(item)
    return list(value)


def finite_truth(truth: Any) -> float:
    """Numeric truths must be finite real numbers (not bool)."""
    num = as_real(truth)
    if num is None:
        raise ParamProblem("truth must be a finite number")
    return num


def format_score(score: float) -> str:
    """Score with 2 decimals, rounded down and capped at 0.99 below 1, so an
    imperfect score never displays as a perfect one."""
    cents = math.floor(score * 100 + 1e-9)  # 1e-9 absorbs 0.29*100 == 28.999...
    if score < 1.0:
        cents = min(cents, 99)
    return f"{cents / 100:.2f}"


def direction(value: float, truth: float) -> str:
    """Hint text; only called for wrong answers, so value != truth in practice."""
    if value > truth:
        return "too high"
    if value < truth:
        return "too low"
    return ""
