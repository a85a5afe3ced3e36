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
    points = sa.func.sum(Score.points).label("points")
    reached = sa.func.max(Score.reached_at).label("reached")
    solved = sa.func.sum(sa.case((Score.solved.is_(True), 1), else_=0)).label("solved")
    stmt = (
        sa.select(Score.user_id, User.display_name, points, reached, solved,
                  sa.func.count().label("answered"))
        .join(User, User.id == Score.user_id)
        .where(User.role == "scholar")
        .group_by(Score.user_id, User.display_name)
        .order_by(points.desc(), reached, Score.user_id)
    )
    if puzzle_id is not None:
        stmt = stmt.where(Score.puzzle_id == puzzle_id)
    if cohort_id is not None:
        stmt = stmt.join(CohortMember, CohortMember.user_id == Score.user_id).where(
            CohortMember.cohort_id == cohort_id)
    entries: list[Entry] = []
    prev_key, rank = None, 0
    for i, row in enumerate(db.session.execute(stmt)):
        reached_at = Score.reached_at.type.process_result_value(row.reached, None) \
            if not isinstance(row.reached, datetime) or row.reached.tzinfo is None else row.reached
        key = (round(row.points, 6), reached_at)
        if key != prev_key:
            rank, prev_key = i + 1, key
        entries.append(Entry(rank, row.user_id, row.display_name, round(row.points, 4),
                             int(row.solved or 0), int(row.answered), reached_at))
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
