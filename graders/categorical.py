"""All-or-nothing graders for non-numeric answers: `choice` and `exact_text`.

Feedback here is a fixed vocabulary: echoing either string could leak the
truth (e.g. a near-miss text answer shown next to the expected one).
"""

from __future__ import annotations

from typing import Any, Mapping

from graders.base import Grade, Grader, ParamProblem, flag, register, string_list

CORRECT = "correct"
INCORRECT = "incorrect"
NOT_AN_OPTION = "not one of the options"


# --- choice -----------------------------------------------------------------


def _choice_params(raw: Mapping[str, Any]) -> dict:
    return {"options": string_list(raw, "options")}


def _choice_truth(truth: Any, params: dict) -> None:
    if not isinstance(truth, str) or truth not in params["options"]:
        raise ParamProblem("truth must be one of the options")


def _choice_grade(answer: Mapping[str, Any], truth: Any, params: dict) -> Grade:
    choice = answer.get("choice")
    if choice not in params["options"]:
        # The platform normally rejects this earlier; score it rather than crash.
        return Grade(score=0.0, correct=False, feedback=NOT_AN_OPTION)
    if choice == truth:
        return Grade(score=1.0, correct=True, feedback=CORRECT)
    return Grade(score=0.0, correct=False, feedback=INCORRECT)


CHOICE = register(
    Grader(
        name="choice",
        kinds=frozenset({"choice"}),
        description="Multiple choice: full credit for the right option, none otherwise.",
        param_doc={"options": "required; the options shown to scholars (non-empty list of distinct, non-empty strings)"},
        parse_params=_choice_params,
        check_truth=_choice_truth,
        score_answer=_choice_grade,
    )
)


# --- exact_text ---------------------------------------------------------------


def _text_params(raw: Mapping[str, Any]) -> dict:
    return {
        "case_sensitive": flag(raw, "case_sensitive", default=False),
        "normalize_whitespace": flag(raw, "normalize_whitespace", default=True),
    }


def normalize_text(text: str, params: Mapping[str, Any]) -> str:
    """Canonical form used for comparison.

    casefold (not lower) so e.g. German 'ß' matches 'SS'; whitespace runs
    (any Unicode whitespace) collapse to one space, with ends stripped.
    """
    if not params["case_sensitive"]:
        text = text.casefold()
    if params["normalize_whitespace"]:
        text = " ".join(text.split())
    return text


def _text_truth(truth: Any, params: dict) -> None:
    if not isinstance(truth, str):
        raise ParamProblem("truth must be a string")
    if not normalize_text(truth, params):
        raise ParamProblem("truth must not be empty")


def _text_grade(answer: Mapping[str, Any], truth: Any, params: dict) -> Grade:
    text = answer.get("text")
    if isinstance(text, str) and normalize_text(text, params) == normalize_text(truth, params):
        return Grade(score=1.0, correct=True, feedback=CORRECT)
    return Grade(score=0.0, correct=False, feedback=INCORRECT)


EXACT_TEXT = register(
    Grader(
        name="exact_text",
        kinds=frozenset({"text"}),
        description="Exact text match after optional case folding and whitespace normalisation.",
        param_doc={
            "case_sensitive": "if true, letter case must match (default false)",
            "normalize_whitespace": "if true, ignore leading/trailing whitespace and collapse internal runs (default true)",
        },
        parse_params=_text_params,
        check_truth=_text_truth,
        score_answer=_text_grade,
    )
)
