"""One discussion thread per puzzle; hidden posts are kept, only marked."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from ..timeutil import UTCDateTime, utcnow
from .user import User


class Post(db.Model):
    __tablename__ = "posts"
    __table_args__ = (sa.Index("ix_posts_puzzle_created", "puzzle_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    puzzle_id: Mapped[int] = mapped_column(sa.ForeignKey("puzzles.id"))
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    body_md: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    hidden: Mapped[bool] = mapped_column(default=False)
    hidden_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    hidden_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    hidden_reason: Mapped[str | None] = mapped_column(sa.Text)

    user: Mapped[User] = relationship(foreign_keys=[user_id])
