"""The typed log of every attempt, the scoring state derived from it, and the regrade log.

Submission is the log (what was typed, when, by whom; a mentor's override is part of it).
Its grade columns, Score and UserTotal are derived by grading/state.py from the log, the
current truths and the overrides; `manage.py grades verify` rebuilds them from scratch.
"""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from ..timeutil import UTCDateTime, utcnow
from .puzzle import Question
from .user import User

STATUSES = ("pending", "graded", "rejected", "rate_limited")


class Submission(db.Model):
    """One attempt, whatever happened to it. Never deleted."""

    __tablename__ = "submissions"
    __table_args__ = (
        sa.CheckConstraint(
            "status IN ('pending','graded','rejected','rate_limited')", name="status"
        ),
        sa.Index("ix_submissions_user_question", "user_id", "question_id"),
        sa.Index("ix_submissions_question_status", "question_id", "status"),
        # Counted attempts are numbered 1, 2, ... per (user, question); the unique constraint
        # is the last guard against two concurrent requests both taking the last attempt.
        sa.UniqueConstraint("user_id", "question_id", "attempt_no"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    # Null when the attempt named a question that does not exist (kept in the log anyway).
    question_id: Mapped[int | None] = mapped_column(sa.ForeignKey("questions.id"))
    puzzle_id: Mapped[int | None] = mapped_column(sa.ForeignKey("puzzles.id"), index=True)
    payload: Mapped[dict] = mapped_column(sa.JSON)
    status: Mapped[str] = mapped_column(sa.String(16))
    attempt_no: Mapped[int | None]
    score: Mapped[float | None]
    points: Mapped[float | None]
    correct: Mapped[bool | None]
    feedback: Mapped[str] = mapped_column(sa.Text, default="")
    artifact_id: Mapped[int | None] = mapped_column(sa.ForeignKey("artifacts.id"))
    source: Mapped[str] = mapped_column(sa.String(16), default="web")
    # A mentor's override wins over the grader until removed; regrading leaves it alone.
    # It sets the points and whether the attempt counts as correct, together.
    override_points: Mapped[float | None]
    override_correct: Mapped[bool | None]
    override_reason: Mapped[str | None] = mapped_column(sa.Text)
    overridden_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    graded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship(foreign_keys=[user_id])
    question: Mapped[Question | None] = relationship()


class Score(db.Model):
    """The counted points of one (user, question): a challenge's best attempt, a forecast's
    last prediction before the deadline (only once the puzzle's forecasts are scored).

    reached_at: since when the question has held these points (null when it never moved the
    total off zero); answered_at: the first counted attempt. Derived (grading/state.py), kept
    so the leaderboard reads one row per answered question; the unique constraint is the
    last guard against double counting.
    """

    __tablename__ = "scores"
    __table_args__ = (
        sa.UniqueConstraint("user_id", "question_id"),
        # Covering indexes for the leaderboard's per-user totals (season, and per puzzle).
        sa.Index("ix_scores_user_cover", "user_id", "points", "reached_at", "answered_at", "solved"),
        sa.Index("ix_scores_puzzle_cover", "puzzle_id", "user_id", "points", "reached_at",
                 "answered_at", "solved"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    question_id: Mapped[int] = mapped_column(sa.ForeignKey("questions.id"))
    puzzle_id: Mapped[int] = mapped_column(sa.ForeignKey("puzzles.id"))
    points: Mapped[float]
    reached_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    answered_at: Mapped[datetime] = mapped_column(UTCDateTime)
    submission_id: Mapped[int] = mapped_column(sa.ForeignKey("submissions.id"))
    solved: Mapped[bool] = mapped_column(default=False)


class UserTotal(db.Model):
    """Season totals per user, derived from Score in the same transaction; reached_at is the
    tie-break time (when the total first reached its current value).

    The season leaderboard reads one row per scholar, so its cost does not grow with the
    number of answered questions or attempts.
    """

    __tablename__ = "user_totals"

    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), primary_key=True)
    points: Mapped[float]
    reached_at: Mapped[datetime] = mapped_column(UTCDateTime)
    solved: Mapped[int] = mapped_column(default=0)
    answered: Mapped[int] = mapped_column(default=0)


class GradeChange(db.Model):
    """Every change of a graded submission's points: old, new, and why."""

    __tablename__ = "grade_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(sa.ForeignKey("submissions.id"), index=True)
    old_points: Mapped[float | None]
    new_points: Mapped[float | None]
    old_artifact_id: Mapped[int | None] = mapped_column(sa.ForeignKey("artifacts.id"))
    new_artifact_id: Mapped[int | None] = mapped_column(sa.ForeignKey("artifacts.id"))
    reason: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
