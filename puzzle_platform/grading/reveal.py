"""Scoring the forecasts at the reveal: exactly once per puzzle, by whoever gets there first.

Until a puzzle's reveal its forecasts are ungraded (grading/state.py), so nothing derived
from the truth exists for a scholar to read. Once `reveal_at` has passed, the first caller
(a worker's periodic tick, or the first read of a board or of the puzzle) sets `scored_at`
with a conditional UPDATE, which only one transaction can win, and re-derives the puzzle's
attempts and scores in the same transaction.
"""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from ..extensions import db
from ..models import Puzzle
from ..timeutil import utcnow
from .generation import SCHEDULE, generations
from .refresh import refresh_puzzles

# engine URL -> (schedule generation, the next reveal still to score or None): lets a read
# skip the query while nothing can be due. Anything that moves a reveal or publishes bumps the
# schedule generation, which drops this.
_next_reveal: dict[str, tuple[int, datetime | None]] = {}


def _due(now: datetime):
    table = Puzzle.__table__
    return sa.and_(table.c.published.is_(True), table.c.scored_at.is_(None), table.c.reveal_at <= now)


def score_due(now: datetime | None = None) -> list[int]:
    """Score every published puzzle whose reveal has passed and that is not scored yet;
    returns the ids this call scored (commits each)."""
    now = now or utcnow()
    table = Puzzle.__table__
    due = db.session.scalars(sa.select(table.c.id).where(_due(now)).order_by(table.c.id)).all()
    scored = []
    for puzzle_id in due:
        won = db.session.execute(sa.update(table).where(table.c.id == puzzle_id, _due(now))
                                 .values(scored_at=now)).rowcount == 1
        if not won:  # another process scored it meanwhile
            db.session.rollback()
            continue
        db.session.expire_all()
        refresh_puzzles([puzzle_id], "scored at the reveal")
        db.session.commit()
        scored.append(puzzle_id)
    return scored


def ensure_scored(puzzle: Puzzle) -> None:
    """Before showing a revealed puzzle: make sure its forecasts are scored (no query when
    they are, or when the reveal is still ahead)."""
    if puzzle.published and puzzle.scored_at is None and puzzle.is_revealed():
        score_due()
        db.session.refresh(puzzle)


def score_due_on_read(schedule: int | None = None) -> list[int]:
    """score_due() for readers (boards): no query while the next reveal is still ahead.
    `schedule` is the schedule generation if the caller has read it already."""
    now = utcnow()
    key = db.engine.url.render_as_string()
    schedule = generations()[SCHEDULE] if schedule is None else schedule
    known = _next_reveal.get(key)
    if known is not None and known[0] == schedule and (known[1] is None or now < known[1]):
        return []
    scored = score_due(now)
    table = Puzzle.__table__
    upcoming = db.session.scalar(sa.select(sa.func.min(table.c.reveal_at)).where(
        table.c.published.is_(True), table.c.scored_at.is_(None)))
    _next_reveal[key] = (schedule, upcoming)
    return scored
