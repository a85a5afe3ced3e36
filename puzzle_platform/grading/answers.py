"""Turn what a scholar typed into a validated answer payload, or a clear reason why not.

The one validation layer for answers: the web form and the API both call `parse_answer`.
"""
from __future__ import annotations

import math
from collections.abc import Mapping

from ..models import Question

MAX_TEXT = 1000
MAX_EXPLANATION = 5000  # grading/explanations.py has the same limit for what mentors grade


class AnswerError(ValueError):
    """The answer is unusable; the message is shown to the scholar as is."""


def _number(raw: object, label: str) -> float:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        raise AnswerError(f"Enter {label}.")
    if isinstance(raw, bool):
        raise AnswerError(f"{label.capitalize()} must be a number, not true/false.")
    try:
        value = float(raw.strip() if isinstance(raw, str) else raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise AnswerError(f"{label.capitalize()} must be a number; got {str(raw)[:40]!r}.") from None
    except OverflowError:  # a JSON integer too large for a float (API bodies)
        raise AnswerError(f"{label.capitalize()} must be a finite number (it is too large).") from None
    if not math.isfinite(value):
        raise AnswerError(f"{label.capitalize()} must be a finite number (NaN and infinity are not accepted).")
    return value


def _blank(raw: object) -> bool:
    return raw is None or (isinstance(raw, str) and not raw.strip())


def parse_answer(question: Question, data: Mapping[str, object]) -> dict:
    """Validate `data` (form or JSON fields) for `question`; return the payload to store."""
    if question.kind in ("numeric", "interval"):
        value = _number(data.get("value"), "a number")
        lo_raw, hi_raw = data.get("lower"), data.get("upper")
        if _blank(lo_raw) and _blank(hi_raw):
            if question.kind == "interval":
                raise AnswerError("This question needs a 90% interval: give its lower and upper ends.")
            return {"value": value, "lower": None, "upper": None}
        if _blank(lo_raw) or _blank(hi_raw):
            raise AnswerError("Give both ends of the 90% interval, or neither.")
        lower = _number(lo_raw, "the interval's lower end")
        upper = _number(hi_raw, "the interval's upper end")
        if lower > upper:
            raise AnswerError(f"The interval's lower end ({lower:g}) is above its upper end ({upper:g}).")
        if not lower <= value <= upper:
            raise AnswerError(f"Your estimate ({value:g}) must lie inside your interval [{lower:g}, {upper:g}].")
        return {"value": value, "lower": lower, "upper": upper}
    if question.kind == "explanation":
        text = data.get("text")
        if not isinstance(text, str) or not text.strip():
            raise AnswerError("Write your explanation first.")
        text = text.replace("\r\n", "\n").strip()
        if len(text) > MAX_EXPLANATION:
            raise AnswerError(f"Explanations are limited to {MAX_EXPLANATION:,} characters (this one has "
                              f"{len(text):,}).")
        return {"text": text}
    if question.kind == "choice":
        choice = data.get("choice")
        options = question.choices or []
        if not isinstance(choice, str) or choice not in options:
            raise AnswerError("Pick one of the listed options.")
        return {"choice": choice}
    text = data.get("text")
    if not isinstance(text, str) or not text.strip():
        raise AnswerError("Enter an answer.")
    if len(text) > MAX_TEXT:
        raise AnswerError(f"Answers are limited to {MAX_TEXT} characters.")
    return {"text": text.strip()}


MAX_LOGGED = 200  # characters kept of a rejected attempt's fields other than a text answer


def sanitize_payload_for_log(data: Mapping[str, object]) -> dict:
    """Keep what a rejected attempt sent so that nothing submitted is lost, bounded: the
    answer fields only, a text answer up to the length an answer may have, the others (a
    number, an option) to MAX_LOGGED characters, which no valid value comes near."""
    keep = {}
    for key in ("value", "lower", "upper", "choice", "text", "question"):
        if key in data and data[key] is not None:
            keep[key] = str(data[key])[:MAX_EXPLANATION if key == "text" else MAX_LOGGED]
    return keep
