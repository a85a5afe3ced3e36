"""Site-wide settings an admin changes at run time (leaderboard privacy, the extra model list)."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db


class Setting(db.Model):
    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    value: Mapped[dict | list | str | int | float | bool | None] = mapped_column(sa.JSON)

    @classmethod
    def get(cls, key: str, default=None):
        row = db.session.get(cls, key)
        return default if row is None else row.value

    @classmethod
    def put(cls, key: str, value) -> None:
        row = db.session.get(cls, key)
        if row is None:
            db.session.add(cls(key=key, value=value))
        else:
            row.value = value


class Counter(db.Model):
    """A named integer bumped in one statement (the scoreboard generation)."""

    __tablename__ = "counters"

    name: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    value: Mapped[int] = mapped_column(sa.BigInteger, default=0)
