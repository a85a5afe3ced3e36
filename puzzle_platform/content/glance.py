"""A scholar's week at a glance: per puzzle of the list, what they have done and what is new.

One statement for every puzzle of the page (their counted attempts and Score rows per
question), so the list costs the same with 3 puzzles or 300. Before a puzzle's reveal nothing
here is derived from the truth but what the puzzle page shows already: whether a challenge is
solved. A forecast or an explanation is only "pending" (recorded, scored or graded at the
reveal); the points, which hold forecasts' scores and explanations' grades, are read only
once the puzzle is revealed.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from ..extensions import db
from ..grading.refresh import COUNTED
from ..grading.reveal import score_due
from ..models import Puzzle, Question, Score, Submission, User

# last_seen_index_at is written only when it moves by at least this much: a scholar paging
# back to the list costs no write (the "new" badges stay until the next recorded visit).
SEEN_RESOLUTION = timedelta(minutes=1)


@dataclass
class Glance:
    """What one scholar has done on one released puzzle."""

    total: int = 0              # questions
    answered: int = 0           # questions with a counted attempt
    pending: int = 0            # answered, waiting for the reveal, a truth or a mentor
    forecasts: int = 0          # forecasts answered before the reveal: scored at the reveal
    challenges: int = 0         # challenge questions (right or wrong at once)
    tried: int = 0              # of those, answered
    solved: int = 0             # of those, solved (the page says so already)
    revealed: bool = False
    points: float | None = None  # after the reveal only: their counted points on the puzzle
    new: str = ""               # "released" or "revealed" since their last visit, else ""


def _new(puzzle: Puzzle, since: datetime | None, now: datetime) -> str:
    if since is None or not puzzle.published:
        return ""
    if since < puzzle.reveal_at <= now:
        return "revealed"
    if since < puzzle.release_at <= now:
        return "released"
    return ""


def ensure_revealed_scored(puzzles: list[Puzzle], now: datetime) -> None:
    """Score forecasts of puzzles revealed since the last scoring (no query otherwise), so
    the points shown after a reveal include them."""
    if any(p.published and p.scored_at is None and p.reveal_at <= now for p in puzzles):
        score_due(now)
        for p in puzzles:
            db.session.refresh(p)


def _rows(user: User, puzzle_ids: list[int]):
    """Per question of the puzzles: its mode and kind, the user's counted attempts (how many,
    how many pending) and their Score row's points and solved flag (null without one)."""
    attempts = (sa.select(Submission.question_id.label("qid"), sa.func.count().label("n"),
                          sa.func.sum(sa.case((Submission.status == "pending", 1), else_=0)).label("pending"))
                .where(Submission.user_id == user.id, Submission.puzzle_id.in_(puzzle_ids),
                       Submission.status.in_(COUNTED))
                .group_by(Submission.question_id).subquery())
    return db.session.execute(
        sa.select(Question.puzzle_id, Question.mode, Question.kind, attempts.c.n, attempts.c.pending,
                  Score.points, Score.solved)
        .outerjoin(attempts, attempts.c.qid == Question.id)
        .outerjoin(Score, sa.and_(Score.question_id == Question.id, Score.user_id == user.id))
        .where(Question.puzzle_id.in_(puzzle_ids))).all()


def glances(user: User, puzzles: list[Puzzle], now: datetime) -> dict[int, Glance]:
    """Puzzle id -> Glance for the released puzzles of the list (an upcoming puzzle shows
    nothing: not even how many questions it has)."""
    released = {p.id: p for p in puzzles if p.state(now) != "upcoming"}
    since = user.last_seen_index_at or user.created_at
    out = {pid: Glance(revealed=p.state(now) == "revealed", new=_new(p, since, now))
           for pid, p in released.items()}
    if not released:
        return out
    for puzzle_id, mode, kind, n, pending, points, solved in _rows(user, list(released)):
        g = out[puzzle_id]
        g.total += 1
        challenge = mode == "challenge" and kind != "explanation"
        g.challenges += challenge
        if not n:
            continue
        g.answered += 1
        if challenge:
            g.tried += 1
            g.solved += bool(solved)
            g.pending += bool(pending) and not solved   # no truth computed yet
        elif not g.revealed:
            g.pending += 1            # scored (or graded) at the reveal: nothing read here
            g.forecasts += kind != "explanation"
        else:
            g.pending += points is None   # not graded by a mentor, or no truth yet
        if g.revealed:
            g.points = (g.points or 0.0) + float(points or 0.0)
    return out


@dataclass
class Week:
    """The head of a scholar's home: how much is new, how much waits, what is left to answer."""

    new: int
    pending: int
    to_answer: list[Puzzle]


def week(puzzles: list[Puzzle], by_puzzle: dict[int, Glance], now: datetime) -> Week:
    gs = by_puzzle.values()
    live = [p for p in puzzles if p.id in by_puzzle and p.state(now) == "live"
            and by_puzzle[p.id].answered < by_puzzle[p.id].total]
    return Week(sum(bool(g.new) for g in gs), sum(g.pending for g in gs), live)


def mark_seen(user: User, now: datetime) -> bool:
    """Record this visit of the list unless the last one is under SEEN_RESOLUTION ago;
    True when it wrote (the caller commits)."""
    last = user.last_seen_index_at
    if last is not None and now - last < SEEN_RESOLUTION:
        return False
    db.session.execute(sa.update(User.__table__).where(User.__table__.c.id == user.id)
                       .values(last_seen_index_at=now))
    return True
