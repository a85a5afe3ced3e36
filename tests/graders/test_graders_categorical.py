"""choice and exact_text: examples and parameter errors."""

from __future__ import annotations

import pytest

from graders import Grade, GraderParamsError, get_grader

CHOICE = get_grader("choice")
TEXT = get_grader("exact_text")
OPTS = {"options": ["a", "b", "c"]}


@pytest.mark.parametrize(
    "choice, expected",
    [
        ("b", Grade(1.0, True, "correct")),
        ("a", Grade(0.0, False, "incorrect")),
        ("d", Grade(0.0, False, "not one of the options")),
        ("B", Grade(0.0, False, "not one of the options")),
        (None, Grade(0.0, False, "not one of the options")),
    ],
)
def test_choice_grades(choice: object, expected: Grade) -> None:
    assert CHOICE.grade({"choice": choice}, "b", OPTS) == expected


def test_choice_params_normalised() -> None:
    assert CHOICE.validate_params({"options": ("x", "y")}) == {"options": ["x", "y"]}


def test_choice_truth_must_be_option() -> None:
    CHOICE.validate_truth("c", OPTS)
    for truth in ("d", "", None, 1):
        with pytest.raises(GraderParamsError, match="^grader 'choice': truth must be one of the options$"):
            CHOICE.validate_truth(truth, OPTS)


@pytest.mark.parametrize(
    "raw, message",
    [
        ({}, "options is required"),
        ({"options": None}, "options is required"),
        ({"options": []}, "options must not be empty"),
        ({"options": "abc"}, "options must be a list of strings"),
        ({"options": {"a": 1}}, "options must be a list of strings"),
        ({"options": ["a", ""]}, "options must contain only non-empty strings"),
        ({"options": ["a", "   "]}, "options must contain only non-empty strings"),
        ({"options": ["a", 1]}, "options must contain only non-empty strings"),
        ({"options": ["a", "b", "a"]}, "options contains a duplicate: 'a'"),
        ({"options": ["a"], "shuffle": True}, "unknown parameter 'shuffle'; known: options"),
    ],
)
def test_choice_bad_params(raw: dict, message: str) -> None:
    with pytest.raises(GraderParamsError) as info:
        CHOICE.validate_params(raw)
    assert str(info.value).startswith(f"grader 'choice': {message}")


def test_text_defaults() -> None:
    assert TEXT.validate_params({}) == {"case_sensitive": False, "normalize_whitespace": True}


@pytest.mark.parametrize(
    "answer, truth, params, correct",
    [
        ("  Hello \t  World\n", "hello world", {}, True),
        ("hello world", "hello world", {}, True),
        ("helloworld", "hello world", {}, False),
        ("Hello", "hello", {"case_sensitive": True}, False),
        ("hello", "hello", {"case_sensitive": True}, True),
        ("STRASSE", "straße", {}, True),  # casefold, not lower
        ("hello  world", "hello world", {"normalize_whitespace": False}, False),
        (" hello", "hello", {"normalize_whitespace": False}, False),
        ("HELLO", "hello", {"normalize_whitespace": False}, True),
        ("a\u00a0b", "a b", {}, True),  # non-breaking space is whitespace
    ],
)
def test_text_grades(answer: str, truth: str, params: dict, correct: bool) -> None:
    g = TEXT.grade({"text": answer}, truth, params)
    assert g == Grade(1.0 if correct else 0.0, correct, "correct" if correct else "incorrect")


def test_text_non_string_answer_is_wrong() -> None:
    assert TEXT.grade({"text": None}, "x", {}).score == 0.0
    assert TEXT.grade({}, "x", {}).score == 0.0


def test_text_truth_validation() -> None:
    TEXT.validate_truth("x", {})
    TEXT.validate_truth(" ", {"normalize_whitespace": False})
    with pytest.raises(GraderParamsError, match="^grader 'exact_text': truth must not be empty$"):
        TEXT.validate_truth("  \n", {})
    with pytest.raises(GraderParamsError, match="^grader 'exact_text': truth must be a string$"):
        TEXT.validate_truth(3, {})


@pytest.mark.parametrize(
    "raw, message",
    [
        ({"case_sensitive": "no"}, "case_sensitive must be true or false"),
        ({"case_sensitive": 0}, "case_sensitive must be true or false"),
        ({"normalize_whitespace": 1}, "normalize_whitespace must be true or false"),
        ({"strip": True}, "unknown parameter 'strip'; known: case_sensitive, normalize_whitespace"),
    ],
)
def test_text_bad_params(raw: dict, message: str) -> None:
    with pytest.raises(GraderParamsError) as info:
        TEXT.validate_params(raw)
    assert str(info.value) == f"grader 'exact_text': {message}"
