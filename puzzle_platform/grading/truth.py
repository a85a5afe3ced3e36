"""Grading against versioned ground truth, and regrading when the truth changes.

A submission is graded against the truth in force at the time (a literal from the puzzle
file, or a statistic of the latest artifact of a figure). When a new artifact lands, pending
submissions are graded and graded ones whose truth changed are regraded; every change of
points is logged in GradeChange with the reason.
"""
from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from graders import get_grader

from ..extensions import db
from ..models import Artifact, GradeChange, Question, Score, Submission, UserTotal
from ..timeutil import utcnow


@dataclass(frozen=True)
class Truth:
    value: object
    artifact_id: int | None


def latest_artifact(puzzle_id: int, figure_key: str) -> Artifact | None:
    return db.session.scalar(
        sa.select(Artifact)
        .where(Artifact.puzzle_id == puzzle_id, Artifact.figure_key == figure_key)
        .order_by(Artifact.version.desc())
        .limit(1)
    )


def resolve_truth(question: Question) -> Truth | None:
    """The truth a question is graded against now, or None while it is not computed yet."""
    if question.truth_literal is not None:
        return Truth(question.truth_literal.get("value"), None)
    if not question.statistic:
        return None
    artifact = latest_artifact(question.puzzle_id, question.figure_key)
    if artifact is None or question.stat_name not in artifact.statistics:
        return None
    return Truth(artifact.statistics[question.stat_name], artifact.id)


def _apply_grade(sub: Submission, question: Question, truth: Truth) -> None:
    grade = get_grader(question.grader).grade(sub.payload, truth.value, question.grader_params)
    sub.status = "graded"
    sub.score = grade.score
    sub.correct = grade.correct
    sub.points = round(grade.score * question.points, 4)
    sub.feedback = grade.feedback
    sub.artifact_id = truth.artifact_id
    sub.graded_at = utcnow()


def refresh_score(user_id: int, question: Question) -> None:
    """Recompute the (user, question) best score from the log (max points, earliest first)
    and the user's season total.

    The scoreboard generation row is bumped first: it is read FOR UPDATE, so concurrent
    gradings serialise here and each recomputes from the others' committed rows (no lost
    update of a Score or a total on PostgreSQL).
    """
    bump_scoreboard()
    best = db.session.scalar(
        sa.select(Submission)
        .where(Submission.user_id == user_id, Submission.question_id == question.id,
               Submission.status == "graded")
        .order_by(Submission.points.desc(), Submission.created_at, Submission.id)
        .limit(1)
    )
    row = db.session.scalar(
        sa.select(Score).where(Score.user_id == user_id, Score.question_id == question.id)
    )
    if best is None:
        if row is not None:
            db.session.delete(row)
        _refresh_total(user_id)
        return
    solved = bool(db.session.scalar(
        sa.select(sa.func.count()).select_from(Submission).where(
            Submission.user_id == user_id, Submission.question_id == question.id,
            Submission.status == "graded", Submission.correct.is_(True))
    ))
    if row is None:
        row = Score(user_id=user_id, question_id=question.id, puzzle_id=question.puzzle_id)
        db.session.add(row)
    row.points = best.points or 0.0
    row.reached_at = best.created_at
    row.submission_id = best.id
    row.solved = solved
    _refresh_total(user_id)


def _refresh_total(user_id: int) -> None:
    db.session.flush()
    points, reached, solved, answered = db.session.execute(
        sa.select(sa.func.sum(Score.points), sa.func.max(Score.reached_at),
                  sa.func.sum(sa.case((Score.solved.is_(True), 1), else_=0)), sa.func.count())
        .where(Score.user_id == user_id)).one()
    total = db.session.get(UserTotal, user_id)
    if not answered:
        if total is not None:
            db.session.delete(total)
        return
    if total is None:
        total = UserTotal(user_id=user_id)
        db.session.add(total)
    total.points = round(float(points or 0), 4)
    total.reached_at = reached
    total.solved, total.answered = int(solved or 0), int(answered)


def grade_new(sub: Submission, question: Question) -> None:
    """Grade a fresh attempt at once when truth exists, else leave it pending."""
    truth = resolve_truth(question)
    if truth is None:
        sub.status = "pending"
        sub.feedback = "Pending: the ground truth is still being computed; you will be graded automatically."
        return
    _apply_grade(sub, question, truth)
    db.session.flush()
    refresh_score(sub.user_id, question)


def regrade_question(question: Question, reason: str) -> list[GradeChange]:
    """Grade pending attempts and regrade graded ones whose truth or definition changed."""
    truth = resolve_truth(question)
    if truth is None:
        return []
    subs = db.session.scalars(
        sa.select(Submission).where(
            Submission.question_id == question.id,
            Submission.status.in_(("pending", "graded")),
        ).order_by(Submission.id)
    ).all()
    changes: list[GradeChange] = []
    touched: set[int] = set()
    for sub in subs:
        if sub.override_points is not None:
            continue  # a mentor's override stands until the mentor removes it
        old_points, old_artifact, old_score = sub.points, sub.artifact_id, sub.score
        old_graded_at = sub.graded_at
        was_pending = sub.status == "pending"
        _apply_grade(sub, question, truth)
        if was_pending:
            why = f"graded on arrival of the ground truth ({reason})"
        elif sub.points != old_points or sub.score != old_score:
            why = f"regraded: {reason}"
        else:
            sub.graded_at = old_graded_at  # unchanged grade: keep when the scholar learnt it
            continue
        change = GradeChange(submission_id=sub.id, old_points=old_points, new_points=sub.points,
                             old_artifact_id=old_artifact, new_artifact_id=sub.artifact_id, reason=why)
        db.session.add(change)
        changes.append(change)
        touched.add(sub.user_id)
    db.session.flush()
    for user_id in sorted(touched):
        refresh_score(user_id, question)
    return changes


def on_artifact(artifact: Artifact) -> list[GradeChange]:
    """Called when an artifact lands: (re)grade every question that reads its figure."""
    questions = db.session.scalars(
        sa.select(Question).where(Question.puzzle_id == artifact.puzzle_id,
                                  Question.statistic.like(f"{artifact.figure_key}.%"))
    ).all()
    reason = f"artifact {artifact.figure_key} v{artifact.version}"
    changes: list[GradeChange] = []
    for question in questions:
        changes.extend(regrade_question(question, reason))
    return changes


def bump_scoreboard() -> None:
    """Invalidate cached leaderboards in every process (see leaderboard.py)."""
    from .leaderboard import bump_generation
    bump_generation()
