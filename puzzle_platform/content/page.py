"""What the puzzle page shows a given viewer; the one place that decides what is visible.

Before the reveal nothing here carries a truth value, an answer text or another scholar's
attempt: those are only added when `puzzle.is_revealed()` (or for mentors).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa

from ..extensions import db
from ..grading.truth import latest_artifact, resolve_truth
from ..models import Job, Puzzle, Question, Submission, User
from ..grading.submissions import attempts_used, is_solved, wait_until


@dataclass
class QuestionView:
    question: Question
    attempts: list[Submission] = field(default_factory=list)
    attempts_left: int = 0
    solved: bool = False
    wait_until: datetime | None = None
    truth: object = None
    distribution: dict | None = None


@dataclass
class FigureView:
    key: str
    title: str
    figure: dict | None
    artifact_version: int | None
    computed_at: datetime | None
    provenance: dict | None
    job: Job | None


def figure_views(puzzle: Puzzle) -> list[FigureView]:
    views = []
    for fig in puzzle.figures:
        art = latest_artifact(puzzle.id, fig.key)
        job = None
        if art is None:
            job = db.session.scalar(sa.select(Job).where(Job.puzzle_id == puzzle.id, Job.figure_key == fig.key)
                                    .order_by(Job.id.desc()).limit(1))
        views.append(FigureView(fig.key, fig.title, art.figure if art else None,
                                art.version if art else None, art.computed_at if art else None,
                                art.provenance if art else None, job))
    return views


def _distribution(question: Question, truth: object) -> dict | None:
    """A plotly histogram of everyone's latest point predictions, with the truth marked."""
    if question.kind not in ("numeric", "interval"):
        return None
    values = [p["value"] for (p,) in db.session.execute(
        sa.select(Submission.payload).where(Submission.question_id == question.id,
                                            Submission.status == "graded")) if "value" in p]
    if not values:
        return None
    shapes = []
    if isinstance(truth, (int, float)):
        shapes.append({"type": "line", "x0": truth, "x1": truth, "yref": "paper", "y0": 0, "y1": 1,
                       "line": {"color": "crimson", "width": 2}})
    return {
        "data": [{"type": "histogram", "x": values, "nbinsx": 40, "name": "predictions"}],
        "layout": {"title": {"text": f"Everyone's predictions (n={len(values)}); red line: truth"},
                   "shapes": shapes, "height": 300, "margin": {"t": 40, "b": 40, "l": 40, "r": 10},
                   "xaxis": {"title": {"text": question.unit or "prediction"}}},
    }


def question_views(puzzle: Puzzle, user: User | None, show_truth: bool) -> list[QuestionView]:
    views = []
    for q in puzzle.questions:
        view = QuestionView(q)
        if user is not None:
            view.attempts = list(db.session.scalars(
                sa.select(Submission).where(Submission.user_id == user.id, Submission.question_id == q.id)
                .order_by(Submission.id.desc())))
            view.attempts_left = max(0, q.max_attempts - attempts_used(user.id, q.id))
            view.solved = is_solved(user.id, q.id)
            view.wait_until = wait_until(user.id, q.id)
        if show_truth:
            truth = resolve_truth(q)
            view.truth = truth.value if truth else None
            view.distribution = _distribution(q, view.truth)
        views.append(view)
    return views
