"""Which truth a question is graded against now.

A literal from the puzzle file, or a statistic of its figure's current artifact: the latest
version computed for the figure's *current* recipe and params (params_key). Going back to
earlier params therefore reuses the artifact computed for them; a result computed for params
the figure no longer has never becomes the truth.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa

from ..extensions import db
from ..models import Artifact, Figure, Question


@dataclass(frozen=True)
class Truth:
    value: object
    artifact_id: int | None


def params_key(recipe: str, params: dict | None) -> str:
    """The identity of a figure's computation, as far as the puzzle defines it."""
    blob = json.dumps([recipe, params or {}], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def current_artifact(puzzle_id: int, figure_key: str) -> Artifact | None:
    """The figure's truth: its latest artifact for its current params (None: not computed)."""
    return db.session.scalar(
        sa.select(Artifact)
        .join(Figure, sa.and_(Figure.puzzle_id == Artifact.puzzle_id, Figure.key == Artifact.figure_key,
                              Figure.params_key == Artifact.params_key))
        .where(Artifact.puzzle_id == puzzle_id, Artifact.figure_key == figure_key)
        .order_by(Artifact.version.desc()).limit(1))


def truth_from(question: Question, statistics: dict | None, artifact_id: int | None) -> Truth | None:
    """The question's truth given its figure's current statistics (ignored for literals)."""
    if question.truth_literal is not None:
        return Truth(question.truth_literal.get("value"), None)
    if not question.statistic or statistics is None or question.stat_name not in statistics:
        return None
    return Truth(statistics[question.stat_name], artifact_id)


def figure_statistics(puzzle_id: int, figure_key: str) -> tuple[dict | None, int | None]:
    """(statistics, artifact id) of the figure's current artifact, in one small query."""
    row = db.session.execute(
        sa.select(Artifact.statistics, Artifact.id)
        .join(Figure, sa.and_(Figure.puzzle_id == Artifact.puzzle_id, Figure.key == Artifact.figure_key,
                              Figure.params_key == Artifact.params_key))
        .where(Artifact.puzzle_id == puzzle_id, Artifact.figure_key == figure_key)
        .order_by(Artifact.version.desc()).limit(1)).first()
    return (row[0], row[1]) if row else (None, None)


def resolve_truth(question: Question) -> Truth | None:
    """The truth `question` is graded against now, or None while it is not computed yet."""
    if question.truth_literal is not None or not question.statistic:
        return truth_from(question, None, None)
    return truth_from(question, *figure_statistics(question.puzzle_id, question.figure_key))


def truths_for(questions: Iterable[Question]) -> dict[int, Truth | None]:
    """Truths of many questions, one query per figure they read."""
    figures: dict[tuple[int, str], tuple[dict | None, int | None]] = {}
    out: dict[int, Truth | None] = {}
    for q in questions:
        if q.statistic and q.truth_literal is None:
            key = (q.puzzle_id, q.figure_key)
            if key not in figures:
                figures[key] = figure_statistics(*key)
            out[q.id] = truth_from(q, *figures[key])
        else:
            out[q.id] = truth_from(q, None, None)
    return out
