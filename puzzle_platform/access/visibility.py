"""Shared access rules: which puzzles a viewer may see. One home for the rule."""
from __future__ import annotations

import sqlalchemy as sa
from flask import abort
from flask_login import current_user

from ..extensions import db
from ..models import Puzzle, Question


def viewer_is_mentor() -> bool:
    return bool(current_user.is_authenticated and current_user.is_mentor)


def visible_puzzle(slug: str, mentor: bool | None = None) -> Puzzle:
    """The puzzle if this viewer may see it: released, or in any state for mentors; else 404."""
    mentor = viewer_is_mentor() if mentor is None else mentor
    puzzle = db.session.scalar(sa.select(Puzzle).where(Puzzle.slug == slug))
    if puzzle is None or (not puzzle.is_released() and not mentor):
        abort(404, "No such puzzle (or it is not released yet).")
    return puzzle


def visible_question(slug: str, key: str, mentor: bool | None = None) -> Question:
    """The question `key` of a puzzle this viewer may see; else 404 with the reason."""
    puzzle = visible_puzzle(slug, mentor)
    question = db.session.scalar(sa.select(Question).where(Question.puzzle_id == puzzle.id, Question.key == key))
    if question is None:
        abort(404, f"Puzzle {slug} has no question {key!r}.")
    return question
