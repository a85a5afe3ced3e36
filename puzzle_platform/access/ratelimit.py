"""Fixed-window rate limits stored in the database, so every web process shares them.

A hit is one INSERT ... ON CONFLICT DO UPDATE ... RETURNING for all the keys a request
counts (e.g. an API submission: the token's requests, the token's submissions, the user's
submissions): atomic per key on SQLite and PostgreSQL, so parallel requests cannot all slip
under a limit. The count joins the request's own transaction: a refused request still logs
its attempt and commits, and with it the count.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa

from ..extensions import db
from ..models import RateCounter
from ..timeutil import utcnow


def window_start(now: datetime, seconds: int) -> datetime:
    """The start of the fixed window of `seconds` that holds `now`."""
    epoch = int(now.timestamp()) // seconds * seconds
    return datetime.fromtimestamp(epoch, tz=timezone.utc)


_UPSERTS: dict[str, sa.Insert] = {}


def dialect_insert():
    """The `insert` of this database's dialect (both have ON CONFLICT DO UPDATE)."""
    if db.session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


def _upsert() -> sa.Insert:
    """The counting statement, built once per dialect with bound parameters (so it is
    compiled once and cached; several keys run as one statement through executemany)."""
    dialect = db.session.get_bind().dialect.name
    if dialect not in _UPSERTS:
        insert = dialect_insert()
        table = RateCounter.__table__
        stmt = insert(table).values(key=sa.bindparam("k"), window_start=sa.bindparam("w", type_=table.c.window_start.type),
                                    count=1)
        _UPSERTS[dialect] = stmt.on_conflict_do_update(
            index_elements=["key", "window_start"], set_={"count": table.c.count + 1}
        ).returning(table.c.key, table.c.count)
    return _UPSERTS[dialect]


def hit_many(limits: Sequence[tuple[str, int]], per_seconds: int, now: datetime | None = None,
             commit: bool = False) -> int | None:
    """Count one event for each (key, limit); None if all are within their limits, else the
    seconds until the window resets. `commit` ends the transaction here (for requests that
    write nothing else)."""
    now = now or utcnow()
    start = window_start(now, per_seconds)
    counts = dict(db.session.execute(_upsert(), [{"k": key, "w": start} for key, _ in limits]).all())
    if commit:
        db.session.commit()
    if any(counts.get(key, 0) > limit for key, limit in limits):
        return max(1, math.ceil((start + timedelta(seconds=per_seconds) - now).total_seconds()))
    return None


def hit(key: str, limit: int, per_seconds: int, now: datetime | None = None) -> int | None:
    """Count one event for `key` and commit it (the count must survive a request that fails
    later); None if allowed, else the seconds until the window resets."""
    return hit_many([(key, limit)], per_seconds, now, commit=True)


def take_back(key: str, per_seconds: int, now: datetime | None = None) -> None:
    """Uncount one event of `key` in the current window (joins the caller's transaction)."""
    t = RateCounter.__table__
    db.session.execute(sa.update(t).where(t.c.key == key, t.c.window_start == window_start(now or utcnow(), per_seconds),
                                          t.c.count > 0).values(count=t.c.count - 1))


def forget(key: str, per_seconds: int, now: datetime | None = None) -> None:
    """Drop `key`'s count in the current window (joins the caller's transaction)."""
    t = RateCounter.__table__
    db.session.execute(sa.delete(t).where(t.c.key == key, t.c.window_start == window_start(now or utcnow(), per_seconds)))


def prune(older_than_seconds: int = 86400) -> int:
    """Delete old windows (called opportunistically; counters are tiny)."""
    cutoff = utcnow() - timedelta(seconds=older_than_seconds)
    res = db.session.execute(sa.delete(RateCounter.__table__).where(RateCounter.__table__.c.window_start < cutoff))
    db.session.commit()
    return res.rowcount or 0
