"""Registry, core types and behaviour shared by every grader."""

from __future__ import annotations

import dataclasses

import pytest

from graders import (
    GRADERS,
    Grade,
    Grader,
    GraderParamsError,
    UnknownGrader,
    get_grader,
    grader_names,
    register,
)

BUILTINS = {"abs_tol", "rel_tol", "interval", "choice", "exact_text"}

VALID_PARAMS = {
    "abs_tol": {"tolerance": 1.0},
    "rel_tol": {"tolerance": 0.1},
    "interval": {"scale": 2.0},
    "choice": {"options": ["a", "b"]},
    "exact_text": {},
}


def test_builtins_registered_and_sorted() -> None:
    assert set(GRADERS) >= BUILTINS
    assert grader_names() == sorted(GRADERS)
    for name in BUILTINS:
        assert get_grader(name) is GRADERS[name]
        assert get_grader(name).name == name


def test_unknown_grader_message_lists_known() -> None:
    with pytest.raises(UnknownGrader) as info:
        get_grader("nope")
    assert str(info.value) == f"unknown grader 'nope'; known: {', '.join(grader_names())}"
    assert isinstance(info.value, ValueError)


def test_unknown_grader_unhashable_name() -> None:
    with pytest.raises(UnknownGrader):
        get_grader(["abs_tol"])  # type: ignore[arg-type]


def test_kinds_and_metadata() -> None:
    assert get_grader("abs_tol").kinds == frozenset({"numeric", "interval"})
    assert get_grader("rel_tol").kinds == frozenset({"numeric", "interval"})
    assert get_grader("interval").kinds == frozenset({"numeric", "interval"})
    assert get_grader("choice").kinds == frozenset({"choice"})
    assert get_grader("exact_text").kinds == frozenset({"text"})
    for name in BUILTINS:
        g = get_grader(name)
        assert isinstance(g.kinds, frozenset)
        assert g.description and "\n" not in g.description
        assert all(isinstance(v, str) and v and "\n" not in v for v in g.param_doc.values())


@pytest.mark.parametrize("name", sorted(BUILTINS))
def test_param_doc_covers_normalised_params(name: str) -> None:
    g = get_grader(name)
    assert set(g.validate_params(VALID_PARAMS[name])) == set(g.param_doc)


@pytest.mark.parametrize("name", sorted(BUILTINS))
def test_validate_params_idempotent(name: str) -> None:
    g = get_grader(name)
    once = g.validate_params(VALID_PARAMS[name])
    assert g.validate_params(once) == once


@pytest.mark.parametrize("name", sorted(BUILTINS))
def test_unknown_key_rejected(name: str) -> None:
    g = get_grader(name)
    with pytest.raises(GraderParamsError, match=rf"^grader '{name}': unknown parameter 'bogus'; known: "):
        g.validate_params({**VALID_PARAMS[name], "bogus": 1})


@pytest.mark.parametrize("raw", [None, [], "tolerance=1", 3])
def test_params_must_be_mapping(raw: object) -> None:
    with pytest.raises(GraderParamsError, match="params must be a mapping"):
        get_grader("abs_tol").validate_params(raw)  # type: ignore[arg-type]


def test_grade_accepts_raw_params() -> None:
    grade = get_grader("abs_tol").grade({"value": 1.5, "lower": None, "upper": None}, 1.0, {"tolerance": 1})
    assert grade == Grade(score=1.0, correct=True, feedback="within tolerance (score 1.00)")


def test_grade_rejects_bad_params_and_truth() -> None:
    g = get_grader("abs_tol")
    with pytest.raises(GraderParamsError):
        g.grade({"value": 1.0}, 1.0, {})
    with pytest.raises(GraderParamsError, match="truth must be a finite number"):
        g.grade({"value": 1.0}, float("nan"), {"tolerance": 1})


def test_register_rejects_duplicate_and_adds_new() -> None:
    with pytest.raises(ValueError, match="already registered"):
        register(get_grader("choice"))
    extra = Grader(
        name="_test_always_right",
        kinds=frozenset({"text"}),
        description="test only",
        param_doc={},
        parse_params=lambda raw: {},
        check_truth=lambda truth, params: None,
        score_answer=lambda answer, truth, params: Grade(1.0, True, "correct"),
    )
    try:
        assert register(extra) is extra
        assert get_grader("_test_always_right").grade({"text": "x"}, "y", {}).correct
        assert "_test_always_right" in grader_names()
    finally:
        GRADERS.pop("_test_always_right", None)


def test_grader_rejects_unknown_kind() -> None:
    with pytest.raises(ValueError, match="kinds"):
        Grader("bad", frozenset({"essay"}), "d", {}, lambda r: {}, lambda t, p: None, lambda a, t, p: Grade(0, False, ""))


def test_grader_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        get_grader("choice").name = "other"  # type: ignore[misc]


def test_grade_is_frozen_and_validated() -> None:
    grade = Grade(1, True, "ok")
    assert isinstance(grade.score, float)
    with pytest.raises(dataclasses.FrozenInstanceError):
        grade.score = 0.5  # type: ignore[misc]
    for bad in (1.5, -0.1, float("nan")):
        with pytest.raises(ValueError):
            Grade(bad, False, "")
    with pytest.raises(TypeError):
        Grade(True, True, "")  # bool is not a score
    with pytest.raises(TypeError):
        Grade(0.5, 1, "")  # type: ignore[arg-type]
