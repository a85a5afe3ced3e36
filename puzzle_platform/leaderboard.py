"""Leaderboards: per puzzle, for the season, per cohort.

Ranked by points (desc), ties broken by the earliest time the points were reached (the
latest of the per-question best attempts), then by user id. Read from the Score table (one
row per answered question, maintained at grading time) rather than the attempt log, and
memoised per process; a generation counter in the database, bumped on every grade change,
invalidates every process's cache at once.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from .extensions import db
from .models import CohortMember, Score, Setting, User

GENERATION_KEY = "scoreboard_generation"
CACHE_SECONDS = 60.0

RULES = (
    "Each question's points are the best score among your graded attempts (score in [0, 1] "
    "times the question's points). Your total is the sum over questions. Higher totals rank "
    "first; equal totals are ordered by the earliest time the total was reached (the time of "
    "the latest best attempt, as submitted, not as graded). Pending attempts count once they "
    "are graded, at the time you submitted them. Only scholars are ranked."
)


@dataclass(frozen=True)
class Entry:
    rank: int
    user_id: int
    display_name: str
    points: float
    solved: int
    answered: int
    reached_at: datetime


_cache: dict[tuple, tuple[int, float, list[Entry]]] = {}
_lock = threading.Lock()


def generation() -> int:
    return int(Setting.get(GENERATION_KEY, 0) or 0)


def bump_generation() -> None:
    """Called inside the grading transaction, so it commits (or rolls back) with the grade."""
    row = db.session.get(Setting, GENERATION_KEY)
    if row is None:
        db.session.add(Setting(key=GENERATION_KEY, value=1))
    else:
        row.value = int(row.value or 0) + 1


def _query(puzzle_id: int | None, cohort_id: int | None) -> list[Entry]:
    """Totals per user in a subquery (a covering index scan, no group-by sort), then names.

    Totals are rounded to 4 places before ordering so that float sums of equal points tie
    exactly and the earliest-reached rule decides.
    """
    agg = (sa.select(Score.user_id,
                     sa.func.round(sa.func.sum(Score.points), 4).label("points"),
                     sa.func.max(Score.reached_at).label("reached"),
                     sa.func.sum(sa.case((Score.solved.is_(True), 1), else_=0)).label("solved"),
                     sa.func.count().label("answered"))
           .group_by(Score.user_id))
    if puzzle_id is not None:
        agg = agg.where(Score.puzzle_id == puzzle_id)
    if cohort_id is not None:
        agg = agg.where(Score.user_id.in_(
            sa.select(CohortMember.user_id).where(CohortMember.cohort_id == cohort_id)))
    totals = agg.subquery()
    stmt = (sa.select(totals.c.user_id, User.display_name, totals.c.points, totals.c.reached,
                      totals.c.solved, totals.c.answered)
            .join(User, User.id == totals.c.user_id).where(User.role == "scholar")
            .order_by(totals.c.points.desc(), totals.c.reached, totals.c.user_id))
    entries: list[Entry] = []
    prev_key, rank = None, 0
    for i, row in enumerate(db.session.execute(stmt)):
        points = float(row.points or 0)
        key = (points, row.reached)
        if key != prev_key:
            rank, prev_key = i + 1, key
        entries.append(Entry(rank, row.user_id, row.display_name, points,
                             int(row.solved or 0), int(row.answered), row.reached))
    return entries


def standings(puzzle_id: int | None = None, cohort_id: int | None = None) -> list[Entry]:
    """The ranked entries; cached until the next grade change (or CACHE_SECONDS)."""
    key = (db.engine.url.render_as_string(), puzzle_id, cohort_id)
    gen = generation()
    now = time.monotonic()
    with _lock:
        hit = _cache.get(key)
        if hit and hit[0] == gen and now - hit[1] < CACHE_SECONDS:
            return hit[2]
    entries = _query(puzzle_id, cohort_id)
    with _lock:
        _cache[key] = (gen, now, entries)
    return entries


def is_public() -> bool:
    return bool(Setting.get("leaderboard_public", True))
