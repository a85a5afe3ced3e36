"""Locks that serialise grading against truth switches, and totals per scholar.

Order, everywhere: puzzles, then questions, then jobs, then users (each sorted by id), then
the scoreboard counter (bumped just before commit: grading/generation.py), so two
transactions never wait on each other in a circle. A worker storing its result locks the
puzzle before its job row, as a sync superseding that job does.

- Grading a new attempt holds its puzzle and question rows in SHARE mode (one statement,
  puzzle first: submissions.py): attempts are graded in parallel, none of them against a
  truth or a definition being replaced, and a row read after waiting is the fresh one.
- Switching a truth, editing a puzzle or a grader, publishing, overriding, scoring a reveal
  and repairing hold the puzzles and questions in UPDATE mode before changing anything:
  they wait for in-flight gradings and block new ones, then re-derive every attempt from
  what is committed.
- A scholar's total is re-derived under a lock on their user row.
- Taking the admin role from someone locks every admin's user row first (lock_admins), so
  two admins demoting each other at once cannot leave the site without one.

PostgreSQL takes row locks. SQLite has one writer at a time: the first write of a
transaction takes the database's write lock until commit, so here the lock is that (taken
with BEGIN IMMEDIATE when the transaction has not written yet).
"""
from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa

from ..extensions import db
from ..models import Puzzle, Question, User


def _sqlite_write_lock() -> bool:
    """On SQLite, make sure this transaction holds the write lock; True if SQLite."""
    conn = db.session.connection()
    if conn.dialect.name != "sqlite":
        return False
    raw = conn.connection.driver_connection
    if not raw.in_transaction:
        raw.execute("BEGIN IMMEDIATE")
    return True


def _lock_rows(column, ids) -> None:
    """SELECT ... FOR UPDATE of the rows whose `column` is in ids, in id order."""
    table = column.table
    db.session.execute(sa.select(table.c.id).where(column.in_(ids)).order_by(table.c.id)
                       .with_for_update()).all()


def lock_puzzles(ids: Iterable[int]) -> None:
    """UPDATE locks on these puzzles and all their questions (before changing any of them)."""
    ids = sorted(set(ids))
    if not ids or _sqlite_write_lock():
        return
    _lock_rows(Puzzle.__table__.c.id, ids)
    _lock_rows(Question.__table__.c.puzzle_id, ids)


def lock_questions(ids: Iterable[int]) -> None:
    """UPDATE locks on these questions and their puzzles (puzzles first)."""
    ids = sorted(set(ids))
    if not ids or _sqlite_write_lock():
        return
    puzzles = db.session.scalars(sa.select(Question.puzzle_id).where(Question.id.in_(ids)).distinct()).all()
    _lock_rows(Puzzle.__table__.c.id, puzzles)
    _lock_rows(Question.__table__.c.id, ids)


def lock_users(ids: Iterable[int]) -> None:
    ids = sorted(set(ids))
    if not ids or _sqlite_write_lock():
        return
    _lock_rows(User.__table__.c.id, ids)


def lock_admins() -> list[int]:
    """UPDATE locks on every admin's user row, in id order; the ids of those still admins.

    On PostgreSQL a row demoted by a transaction we waited for is re-checked after the wait
    and left out, so the list is what is committed now, not what the snapshot saw."""
    admins = sa.select(User.id).where(User.role == "admin").order_by(User.id)
    if _sqlite_write_lock():
        return list(db.session.scalars(admins))
    return list(db.session.scalars(admins.with_for_update()))


def write_lock() -> None:
    """SQLite: take the write lock now (a no-op on PostgreSQL, whose locks are per row)."""
    _sqlite_write_lock()
