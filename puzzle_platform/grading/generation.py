"""Generation counters that let every process drop what it cached, at once.

- "scoreboard": bumped whenever a board could change (a Score, a total, a puzzle's title or
  publication); grading/leaderboard.py caches boards per generation.
- "schedule": bumped whenever a reveal time or a publication changes; grading/reveal.py
  remembers the next reveal per schedule generation, so reads cost no query until then.

A bump marks the transaction; the counter is updated by one UPDATE just before it commits
(`_bump_before_commit`), so it commits or rolls back with the change, concurrent bumps each add
one, and a counter's row lock is always the last lock a transaction takes (the order in
grading/locks.py).
"""
from __future__ import annotations

import sqlalchemy as sa

from ..extensions import db
from ..models import Counter

SCOREBOARD, SCHEDULE = "scoreboard", "schedule"
FLAG = "bump_generations"


def generations() -> dict[str, int]:
    """Both counters in one query (0 for a counter never bumped)."""
    rows = dict(db.session.execute(sa.select(Counter.name, Counter.value)
                                   .where(Counter.name.in_((SCOREBOARD, SCHEDULE)))).all())
    return {SCOREBOARD: int(rows.get(SCOREBOARD, 0)), SCHEDULE: int(rows.get(SCHEDULE, 0))}


def generation() -> int:
    return generations()[SCOREBOARD]


def bump_generation(*names: str) -> None:
    """Mark this transaction as changing what the named counters guard (default: the
    scoreboard). Called only when something they guard changed."""
    db.session.info.setdefault(FLAG, set()).update(names or (SCOREBOARD,))


def _bump_before_commit(session) -> None:
    table = Counter.__table__
    for name in sorted(session.info.pop(FLAG, ())):
        res = session.execute(sa.update(table).where(table.c.name == name).values(value=table.c.value + 1))
        if res.rowcount == 0:  # never bumped before (or deleted by hand)
            session.execute(sa.insert(table).values(name=name, value=1))


def _forget(session, *args) -> None:
    session.info.pop(FLAG, None)


def init_app() -> None:
    """Register the commit hooks (once per process) on the session class the app uses."""
    from sqlalchemy import event
    from sqlalchemy.orm import Session

    if not event.contains(Session, "before_commit", _bump_before_commit):
        event.listen(Session, "before_commit", _bump_before_commit)
        event.listen(Session, "after_rollback", _forget)
