"""Explanation questions: the written answers mentors grade with a rubric.

An explanation is a forecast in all but its grader: every edit is a new attempt (all kept),
the latest one before the deadline is the one that counts and that mentors grade, and its
points enter the totals at the reveal. Its points are a pure function of the rubric items a
mentor applied and those items' current points (`rubric_points`), so the scoring state stays
rebuildable from the log, the grades and the rubric; editing a rubric re-derives every
answer graded with it.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import sqlalchemy as sa

from ..extensions import db
from ..models import ExplanationGrade, Puzzle, Question, RubricApplication, RubricItem, Submission
from .state import POINTS_PLACES

from .answers import MAX_EXPLANATION  # noqa: F401,E402  (re-exported: one limit for answers and grading)
MAX_RUBRIC_ITEMS = 9            # keys 1-9 toggle them in the grading queue
DEFAULT_VERSIONS = 50           # max_attempts of an explanation: how many versions
RUBRIC_ID = re.compile(r"^[a-z0-9_-]{1,32}$")
GRADER = "rubric"               # the grader column of explanation questions


@dataclass(frozen=True)
class RubricSpec:
    key: str
    description: str
    points: float


def parse_rubric(raw: object, question_points: float, where: str) -> list[RubricSpec]:
    """`[[questions.rubric]]` tables -> items; ValueError with the reason."""
    if not isinstance(raw, list) or not raw:
        raise ValueError(f"{where}: an explanation question needs a rubric: [[questions.rubric]] "
                         "items with id, description and points")
    if len(raw) > MAX_RUBRIC_ITEMS:
        raise ValueError(f"{where}: at most {MAX_RUBRIC_ITEMS} rubric items (keys 1-9 toggle them)")
    items: list[RubricSpec] = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict) or set(item) - {"id", "description", "points"}:
            raise ValueError(f"{where}: rubric item {i + 1} must be a table with id, description and points")
        key, text, points = item.get("id"), item.get("description"), item.get("points")
        if not isinstance(key, str) or not RUBRIC_ID.match(key):
            raise ValueError(f"{where}: rubric item {i + 1}: id must be 1-32 of a-z, 0-9, '_', '-'")
        if any(key == other.key for other in items):
            raise ValueError(f"{where}: rubric id {key!r} is used twice")
        if not isinstance(text, str) or not text.strip() or len(text) > 500:
            raise ValueError(f"{where}: rubric item {key!r}: description must be 1-500 characters")
        if isinstance(points, bool) or not isinstance(points, (int, float)) or points != points \
                or points == 0 or abs(points) > question_points:
            raise ValueError(f"{where}: rubric item {key!r}: points must be a non-zero number within "
                             f"±{question_points:g} (the question's points)")
        items.append(RubricSpec(key, text.strip(), float(points)))
    return items


def rubric_points(applied: Iterable[float], question_points: float) -> float:
    """The points of a graded explanation: the applied items' points summed, within
    [0, the question's points]."""
    return round(min(max(sum(applied), 0.0), question_points), POINTS_PLACES)


def set_rubric_items(question: Question, items: list[RubricSpec]) -> bool:
    """Make the question's RubricItem rows equal to `items`; True when points or the set of
    items changed (the answers graded with them must be re-derived). A removed item's
    applications go with it."""
    rows = {r.key: r for r in db.session.scalars(sa.select(RubricItem).where(RubricItem.question_id == question.id))}
    regrade = False
    for pos, item in enumerate(items):
        row = rows.pop(item.key, None)
        if row is None:
            db.session.add(RubricItem(question_id=question.id, key=item.key, description=item.description,
                                      points=item.points, position=pos))
            continue
        regrade |= row.points != item.points
        row.description, row.points, row.position = item.description, item.points, pos
    for row in rows.values():
        db.session.execute(sa.delete(RubricApplication).where(RubricApplication.rubric_item_id == row.id))
        db.session.delete(row)
        regrade = True
    return regrade


def rubric_of(question_id: int) -> list[RubricItem]:
    return list(db.session.scalars(sa.select(RubricItem).where(RubricItem.question_id == question_id)
                                   .order_by(RubricItem.position, RubricItem.id)))


def graded_points(questions: Mapping[int, float]) -> dict[int, float]:
    """{submission id: points} of every graded explanation version of these questions
    ({question id: its points}), in one query."""
    if not questions:
        return {}
    applied: dict[int, list[float]] = {}
    grades = db.session.execute(
        sa.select(ExplanationGrade.submission_id, ExplanationGrade.question_id, RubricItem.points)
        .outerjoin(RubricApplication, RubricApplication.grade_id == ExplanationGrade.id)
        .outerjoin(RubricItem, RubricItem.id == RubricApplication.rubric_item_id)
        .where(ExplanationGrade.question_id.in_(list(questions)), ExplanationGrade.graded_at.is_not(None)))
    owner: dict[int, int] = {}
    for submission_id, question_id, points in grades:
        owner[submission_id] = question_id
        applied.setdefault(submission_id, [])
        if points is not None:
            applied[submission_id].append(points)
    return {sid: rubric_points(pts, questions[owner[sid]]) for sid, pts in applied.items()}


def counted_version(question: Question, user_id: int) -> Submission | None:
    """The version that counts and that mentors grade: the latest before the deadline."""
    deadline = question.puzzle.deadline_at
    return db.session.scalar(
        sa.select(Submission).where(Submission.question_id == question.id, Submission.user_id == user_id,
                                    Submission.status.in_(("pending", "graded")),
                                    Submission.created_at < deadline)
        .order_by(Submission.created_at.desc(), Submission.id.desc()).limit(1))


def counted_subquery(question: Question) -> sa.Subquery:
    """(id, user_id, first) of each scholar's counted version, as a subquery (the grading queue
    reads it in one query); `first` is the id of their first version (a stable order)."""
    deadline = sa.select(Puzzle.deadline_at).where(Puzzle.id == question.puzzle_id).scalar_subquery()
    ranked = sa.select(
        Submission.id, Submission.user_id,
        sa.func.row_number().over(partition_by=Submission.user_id,
                                  order_by=(Submission.created_at.desc(), Submission.id.desc())).label("rn"),
        sa.func.min(Submission.id).over(partition_by=Submission.user_id).label("first"),
    ).where(Submission.question_id == question.id, Submission.status.in_(("pending", "graded")),
            Submission.created_at < deadline).subquery()
    return sa.select(ranked.c.id, ranked.c.user_id, ranked.c.first).where(ranked.c.rn == 1).subquery()


def counted_versions(question: Question) -> list[Submission]:
    """Every scholar's counted version of the question, in the order they first answered."""
    counted = counted_subquery(question)
    return list(db.session.scalars(sa.select(Submission).join(counted, counted.c.id == Submission.id)
                                   .order_by(counted.c.first)))
