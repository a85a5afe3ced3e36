"""Leaderboards: per puzzle, for the season, per cohort.

Ranked by points (desc), ties broken by the earliest time the total reached its current
value, then by user id (the rules are RULES below, and grading/state.py computes them).
Read from the derived rows, never the attempt log: UserTotal (one row per scholar) for the
season, Score (one row per counted question) for a puzzle; memoised per process, and a
generation counter in the database, bumped whenever a Score or a total changes, invalidates
every process's cache at once. Forecasts enter only once their puzzle is scored at the
reveal (grading/reveal.py), which the first read after the reveal triggers.
"""
from __future__ import annotations

import threading
import time
from typing import NamedTuple
from datetime import datetime

import sqlalchemy as sa
from flask import abort

from ..extensions import db
from ..models import Cohort, CohortMember, Puzzle, Score, Setting, User, UserTotal
from ..timeutil import iso
from .generation import SCHEDULE, SCOREBOARD, generation, generations
from .reveal import score_due_on_read

CACHE_SECONDS = 60.0

RULES = (
    "A question's points are its score in [0, 1] times the question's points. A challenge "
    "question counts your best attempt, as soon as it is graded; a forecast question counts "
    "your last prediction before the deadline, once the puzzle is revealed. Your total is the "
    "sum over questions. Higher totals rank first; equal totals are ordered by the time your "
    "total reached its current value: the latest time at which one of your questions reached "
    "the points it now holds (a challenge: your first attempt with your best points; a "
    "forecast: the first of your final run of predictions with the counted points), so "
    "attempts that do not raise a total never move it; a total of zero is dated by your first "
    "counted answer. Times are when you submitted, not when you were graded. Only scholars "
    "are ranked, and only on published puzzles."
)


class Entry(NamedTuple):
    """One ranked row (a named tuple: a board builds a thousand of them per read)."""

    rank: int
    user_id: int
    display_name: str
    points: float
    solved: int
    answered: int
    reached_at: datetime


_cache: dict[tuple, tuple[int, float, list[Entry]]] = {}
_lock = threading.Lock()


def _totals(puzzle_id: int | None):
    """Per-user totals: the UserTotal rows for the season (one row per scholar, kept at
    grading time), or a per-puzzle aggregate of Score (a covering index scan) by the same
    rule as state.user_total.

    Totals are rounded to 4 places so that float sums of equal points tie exactly and the
    earliest-reached rule decides.
    """
    if puzzle_id is None:
        return sa.select(UserTotal.user_id, UserTotal.points, UserTotal.reached_at.label("reached"),
                         UserTotal.solved, UserTotal.answered).subquery()
    return (sa.select(Score.user_id,
                      # round(double, int) does not exist on PostgreSQL: round a numeric
                      sa.cast(sa.func.round(sa.cast(sa.func.sum(Score.points), sa.Numeric), 4),
                              sa.Float).label("points"),
                      sa.func.coalesce(sa.func.max(Score.reached_at),
                                       sa.func.min(Score.answered_at)).label("reached"),
                      sa.func.sum(sa.case((Score.solved.is_(True), 1), else_=0)).label("solved"),
                      sa.func.count().label("answered"))
            .where(Score.puzzle_id == puzzle_id).group_by(Score.user_id).subquery())


def _query(puzzle_id: int | None, cohort_id: int | None) -> list[Entry]:
    totals = _totals(puzzle_id)
    stmt = (sa.select(totals.c.user_id, User.display_name, totals.c.points, totals.c.reached,
                      totals.c.solved, totals.c.answered)
            .join(User, User.id == totals.c.user_id).where(User.role == "scholar")
            .order_by(totals.c.points.desc(), totals.c.reached, totals.c.user_id))
    if cohort_id is not None:
        stmt = stmt.where(totals.c.user_id.in_(
            sa.select(CohortMember.user_id).where(CohortMember.cohort_id == cohort_id)))
    entries: list[Entry] = []
    prev_key, rank = None, 0
    for i, (user_id, name, points, reached, solved, answered) in enumerate(db.session.execute(stmt)):
        points = float(points or 0)
        if (points, reached) != prev_key:
            rank, prev_key = i + 1, (points, reached)
        entries.append(Entry(rank, user_id, name, points, int(solved or 0), int(answered), reached))
    return entries


def standings(puzzle_id: int | None = None, cohort_id: int | None = None) -> list[Entry]:
    """The ranked entries; cached until the next grade change (or CACHE_SECONDS).

    The first read after a reveal scores it (workers do too, on their own tick); until then
    that costs no query.
    """
    key = (db.engine.url.render_as_string(), puzzle_id, cohort_id)
    gens = generations()
    gen = gens[SCOREBOARD]
    if score_due_on_read(gens[SCHEDULE]):
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


def set_public(public: bool) -> None:
    """The site-wide board public (anyone) or private (logged-in users); an admin's setting,
    from the leaderboard page or the admin page (both call this)."""
    Setting.put("leaderboard_public", public)
    db.session.commit()


def board_scope(viewer: User | None, puzzle_slug: str | None,
                cohort_slug: str | None) -> tuple[Puzzle | None, Cohort | None]:
    """Which board `viewer` (None: anonymous) asked for, or abort with why they may not see it.

    The one permission rule for every leaderboard surface (page, JSON, CSV, API): unreleased
    puzzles are 404 except for mentors; private cohort boards are for members and mentors;
    a private site board needs a login.
    """
    mentor = bool(viewer is not None and viewer.is_mentor)
    puzzle = cohort = None
    if puzzle_slug:
        puzzle = db.session.scalar(sa.select(Puzzle).where(Puzzle.slug == puzzle_slug))
        if puzzle is None or (not puzzle.is_released() and not mentor):
            abort(404, "No such puzzle.")
    if cohort_slug:
        cohort = db.session.scalar(sa.select(Cohort).where(Cohort.slug == cohort_slug))
        if cohort is None:
            abort(404, "No such cohort.")
        if cohort.leaderboard_private and not mentor:
            member = viewer is not None and db.session.scalar(
                sa.select(CohortMember.id).where(CohortMember.cohort_id == cohort.id,
                                                 CohortMember.user_id == viewer.id))
            if not member:
                abort(403 if viewer is not None else 401,
                      "This cohort's leaderboard is visible to its members and mentors only.")
    if not is_public() and viewer is None:
        abort(401, "The leaderboard is private: log in to see it.")
    return puzzle, cohort


def board_json(puzzle: Puzzle | None, cohort: Cohort | None) -> dict:
    """A board as the JSON surfaces (leaderboard.json, the API) show it: display names, no ids."""
    return {
        "scope": {"puzzle": puzzle.slug if puzzle else None, "cohort": cohort.slug if cohort else None},
        "rules": RULES,
        "entries": [{"rank": e.rank, "display_name": e.display_name, "points": e.points,
                     "solved": e.solved, "answered": e.answered, "reached_at": iso(e.reached_at)}
                    for e in standings(puzzle.id if puzzle else None, cohort.id if cohort else None)],
    }
