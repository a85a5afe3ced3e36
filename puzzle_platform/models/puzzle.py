"""Puzzles, their questions and the figures the worker computes for them."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from ..timeutil import UTCDateTime, utcnow

QUESTION_KINDS = ("numeric", "interval", "choice", "text", "explanation")
# forecast: revisable until the deadline, scored at the reveal; challenge: right/wrong at once.
QUESTION_MODES = ("forecast", "challenge")
STATES = ("upcoming", "live", "closed", "revealed")


class Puzzle(db.Model):
    __tablename__ = "puzzles"
    __table_args__ = (
        sa.CheckConstraint("release_at <= deadline_at AND deadline_at <= reveal_at", name="schedule"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(sa.String(80), unique=True)
    number: Mapped[int] = mapped_column(unique=True)
    title: Mapped[str] = mapped_column(sa.String(200))
    summary: Mapped[str] = mapped_column(sa.String(500), default="")
    statement_md: Mapped[str] = mapped_column(sa.Text, default="")
    answer_md: Mapped[str] = mapped_column(sa.Text, default="")
    release_at: Mapped[datetime] = mapped_column(UTCDateTime)
    deadline_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reveal_at: Mapped[datetime] = mapped_column(UTCDateTime)
    published: Mapped[bool] = mapped_column(default=True)
    # Set once, when the forecasts were scored after the reveal (grading/reveal.py); cleared
    # when the reveal is moved back into the future.
    scored_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    source_hash: Mapped[str | None] = mapped_column(sa.String(64))
    # "files": managed by `puzzles sync`; "web": authored in the mentor area.
    origin: Mapped[str] = mapped_column(sa.String(8), default="files")
    created_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    questions: Mapped[list["Question"]] = relationship(
        back_populates="puzzle", order_by="Question.position", cascade="all, delete-orphan"
    )
    figures: Mapped[list["Figure"]] = relationship(
        back_populates="puzzle", order_by="Figure.position", cascade="all, delete-orphan"
    )

    def state(self, now: datetime | None = None) -> str:
        """upcoming -> live -> closed -> revealed, derived from the schedule alone."""
        now = now or utcnow()
        if not self.published or now < self.release_at:
            return "upcoming"
        if now < self.deadline_at:
            return "live"
        if now < self.reveal_at:
            return "closed"
        return "revealed"

    def is_released(self, now: datetime | None = None) -> bool:
        return self.state(now) != "upcoming"

    def is_revealed(self, now: datetime | None = None) -> bool:
        return self.state(now) == "revealed"


class Question(db.Model):
    __tablename__ = "questions"
    __table_args__ = (
        sa.UniqueConstraint("puzzle_id", "key"),
        sa.CheckConstraint("kind IN ('numeric','interval','choice','text','explanation')", name="kind"),
        sa.CheckConstraint("mode IN ('forecast','challenge')", name="mode"),
        sa.CheckConstraint("max_attempts >= 1", name="max_attempts"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    puzzle_id: Mapped[int] = mapped_column(sa.ForeignKey("puzzles.id"), index=True)
    key: Mapped[str] = mapped_column(sa.String(64))
    position: Mapped[int] = mapped_column(default=0)
    prompt_md: Mapped[str] = mapped_column(sa.Text)
    kind: Mapped[str] = mapped_column(sa.String(16))
    mode: Mapped[str] = mapped_column(sa.String(16), default="forecast")
    grader: Mapped[str] = mapped_column(sa.String(64))
    grader_params: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    points: Mapped[float] = mapped_column(default=10.0)
    max_attempts: Mapped[int] = mapped_column(default=5)
    # Either a statistic "figure_key.stat_name" of the figure's current artifact, or a literal.
    statistic: Mapped[str | None] = mapped_column(sa.String(128))
    truth_literal: Mapped[dict | None] = mapped_column(sa.JSON)
    unit: Mapped[str] = mapped_column(sa.String(32), default="")
    choices: Mapped[list | None] = mapped_column(sa.JSON)
    word_budget: Mapped[int | None]  # explanations: the length the mentor suggests, in words

    puzzle: Mapped[Puzzle] = relationship(back_populates="questions")

    @property
    def is_forecast(self) -> bool:
        return self.mode == "forecast"

    @property
    def figure_key(self) -> str | None:
        return self.statistic.split(".", 1)[0] if self.statistic else None

    @property
    def stat_name(self) -> str | None:
        return self.statistic.split(".", 1)[1] if self.statistic else None


class Figure(db.Model):
    """A figure to compute: a recipe name and its parameters (validated at load time)."""

    __tablename__ = "figures"
    __table_args__ = (sa.UniqueConstraint("puzzle_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    puzzle_id: Mapped[int] = mapped_column(sa.ForeignKey("puzzles.id"), index=True)
    key: Mapped[str] = mapped_column(sa.String(64))
    position: Mapped[int] = mapped_column(default=0)
    title: Mapped[str] = mapped_column(sa.String(200))
    recipe: Mapped[str] = mapped_column(sa.String(64))
    params: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    # Hash of (recipe, params): the figure's truth is its latest artifact with this key.
    params_key: Mapped[str] = mapped_column(sa.String(64), default="")

    puzzle: Mapped[Puzzle] = relationship(back_populates="figures")
