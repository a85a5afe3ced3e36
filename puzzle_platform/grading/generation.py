"""The scoreboard generation: a counter bumped whenever a board could change, so that every
process drops its cached boards (grading/leaderboard.py) at once."""
from __future__ import annotations

import sqlalchemy as sa

from ..extensions import db
from ..models import Counter

NAME = "scoreboard"


def generation() -> int:
    return int(db.session.scalar(sa.select(Counter.value).where(Counter.name == NAME)) or 0)


def bump_generation() -> None:
    """One UPDATE inside the caller's transaction: it commits (or rolls back) with the grade,
    and concurrent bumps each add one. Called only when a Score or a total changed."""
    table = Counter.__table__
    res = db.session.execute(sa.update(table).where(table.c.name == NAME).values(value=table.c.value + 1))
    if res.rowcount == 0:  # a database whose counter row was deleted by hand
        db.session.execute(sa.insert(table).values(name=NAME, value=1))
