"""Fixed-window rate limits stored in the database, so every web process shares them."""
from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..models import RateCounter
from ..timeutil import utcnow


def _window(now: datetime, seconds: int) -> datetime:
    epoch = int(now.timestamp()) // seconds * seconds
    return datetime.fromtimestamp(epoch, tz=timezone.utc)


def hit(key: str, limit: int, per_seconds: int, now: datetime | None = None) -> int | None:
    """Count one event for `key`; None if allowed, else the seconds until the window resets.

    Commits its own small transaction (the count must survive a request that fails later).
    """
    now = now or utcnow()
    start = _window(now, per_seconds)
    table = RateCounter.__table__
    for _ in range(2):
        res = db.session.execute(sa.update(table).where(table.c.key == key, table.c.window_start == start)
                                 .values(count=table.c.count + 1))
        if res.rowcount == 0:
            try:
                db.session.execute(sa.insert(table).values(key=key, window_start=start, count=1))
            except IntegrityError:  # another process created the row first: count again
                db.session.rollback()
                continue
        db.session.commit()
        break
    count = db.session.scalar(sa.select(table.c.count).where(table.c.key == key, table.c.window_start == start))
    if count is not None and count > limit:
        return max(1, math.ceil((start + timedelta(seconds=per_seconds) - now).total_seconds()))
    return None


def peek(key: str, limit: int, per_seconds: int, now: datetime | None = None) -> int | None:
    """Like hit() without counting: is `key` over its limit right now?"""
    now = now or utcnow()
    start = _window(now, per_seconds)
    table = RateCounter.__table__
    count = db.session.scalar(sa.select(table.c.count).where(table.c.key == key, table.c.window_start == start))
    if count is not None and count >= limit:
        return max(1, math.ceil((start + timedelta(seconds=per_seconds) - now).total_seconds()))
    return None


def prune(older_than_seconds: int = 86400) -> int:
    """Delete old windows (called opportunistically; counters are tiny)."""
    cutoff = utcnow() - timedelta(seconds=older_than_seconds)
    res = db.session.execute(sa.delete(RateCounter.__table__).where(RateCounter.__table__.c.window_start < cutoff))
    db.session.commit()
    return res.rowcount or 0
