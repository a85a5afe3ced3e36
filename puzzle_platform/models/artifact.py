"""Computed ground truth. Versioned: a new computation adds a row, never overwrites one.

Which artifact is a figure's truth is decided by its params_key (see grading/truth.py): the
latest version computed for the figure's current recipe and params.
"""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from ..timeutil import UTCDateTime, utcnow


class Artifact(db.Model):
    __tablename__ = "artifacts"
    __table_args__ = (
        sa.UniqueConstraint("puzzle_id", "figure_key", "version"),
        # Running the same computation twice is harmless: the content key is the guard.
        sa.UniqueConstraint("puzzle_id", "figure_key", "content_key"),
        # The truth of a figure: its latest artifact for the figure's current params.
        sa.Index("ix_artifacts_truth", "puzzle_id", "figure_key", "params_key", "version"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    puzzle_id: Mapped[int] = mapped_column(sa.ForeignKey("puzzles.id"), index=True)
    figure_key: Mapped[str] = mapped_column(sa.String(64))
    version: Mapped[int]
    content_key: Mapped[str] = mapped_column(sa.String(64))
    params_key: Mapped[str] = mapped_column(sa.String(64), default="")
    statistics: Mapped[dict] = mapped_column(sa.JSON)
    figure: Mapped[dict | None] = mapped_column(sa.JSON)
    provenance: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    model: Mapped[str] = mapped_column(sa.String(200), default="")
    revision: Mapped[str] = mapped_column(sa.String(80), default="")
    weights: Mapped[str] = mapped_column(sa.String(32), default="")
    seed: Mapped[int | None]
    code_version: Mapped[str] = mapped_column(sa.String(64), default="")
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    job_id: Mapped[int | None] = mapped_column(sa.ForeignKey("jobs.id"))
