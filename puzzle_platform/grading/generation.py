"""The scoreboard generation: a counter bumped whenever a board could change, so that every
process drops its cached boards (grading/leaderboard.py) at once."""
from __future__ import annotations

import sqlalchemy as sa

from ..extensions import db
from ..models import Counter

NAME = "scoreboard"


def generation() -> int:
    return int(db.session.scalar(sa.select(Counter.value).where(Counter.name == NAME)) or 0)


FLAG = "bump_scoreboard_generation"


def bump_generation() -> None:
    """Mark this transaction as changing a board: the counter is bumped by one UPDATE just
    before it commits (see `_bump_before_commit`), so it commits or rolls back with the change,
    concurrent bumps each add one, and the counter's row lock is always the last lock a
    transaction takes (grading/locks.py's order). Called only when a Score or a total changed."""
    db.session.info[FLAG] = True


def _bump_before_commit(session) -> None:
    if not session.info.pop(FLAG, False):
        return
    table = Counter.__table__
    res = session.execute(sa.update(table).where(table.c.name == NAME).values(value=table.c.value + 1))
    if res.rowcount == 0:  # a database whose counter row was deleted by hand
        session.execute(sa.insert(table).values(name=NAME, value=1))


def _forget(session, *args) -> None:
    session.info.pop(FLAG, None)


def init_app() -> None:
    """Register the commit hooks (once per process) on the session class the app uses."""
    from sqlalchemy import event
    from sqlalchemy.orm import Session

    if not event.contains(Session, "before_commit", _bump_before_commit):
        event.listen(Session, "before_commit", _bump_before_commit)
        event.listen(Session, "after_rollback", _forget)
