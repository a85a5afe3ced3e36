"""Explanations graded by mentors with rubrics.

An explanation is a Submission of a question of kind "explanation" (payload {"text": Markdown});
every edit is a new Submission, so every version is kept. A mentor grades one version:
ExplanationGrade holds the comment, the claim (who has it open, since when) and whether it is
featured after the reveal; RubricApplication says which rubric items apply. The points a grade
gives are derived (grading/state.py) from the items applied and the items' current points, so
editing a rubric regrades every answer that used it.
"""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from ..timeutil import UTCDateTime, utcnow


class RubricItem(db.Model):
    """One rubric item of an explanation question: points > 0 for something a good answer
    does, < 0 for a mistake."""

    __tablename__ = "rubric_items"
    __table_args__ = (sa.UniqueConstraint("question_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    question_id: Mapped[int] = mapped_column(sa.ForeignKey("questions.id"), index=True)
    key: Mapped[str] = mapped_column(sa.String(32))
    description: Mapped[str] = mapped_column(sa.Text)
    points: Mapped[float]
    position: Mapped[int] = mapped_column(default=0)


class ExplanationGrade(db.Model):
    """A mentor's grading of one explanation version (one row per version at most)."""

    __tablename__ = "explanation_grades"

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(sa.ForeignKey("submissions.id"), unique=True)
    question_id: Mapped[int] = mapped_column(sa.ForeignKey("questions.id"), index=True)
    comment: Mapped[str] = mapped_column(sa.Text, default="")
    graded_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    graded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # None: claimed, not graded yet
    claimed_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    featured: Mapped[bool] = mapped_column(default=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RubricApplication(db.Model):
    """Rubric item `rubric_item_id` applies to the graded version."""

    __tablename__ = "rubric_applications"
    __table_args__ = (sa.UniqueConstraint("grade_id", "rubric_item_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    grade_id: Mapped[int] = mapped_column(sa.ForeignKey("explanation_grades.id"), index=True)
    rubric_item_id: Mapped[int] = mapped_column(sa.ForeignKey("rubric_items.id"), index=True)


class Reaction(db.Model):
    """A scholar's "helpful" on a featured explanation (one each; after the reveal only)."""

    __tablename__ = "reactions"
    __table_args__ = (sa.UniqueConstraint("grade_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    grade_id: Mapped[int] = mapped_column(sa.ForeignKey("explanation_grades.id"), index=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
