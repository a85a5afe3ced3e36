"""Keeping the derived rows equal to what grading/state.py derives from the log.

`refresh_questions` re-derives every attempt and Score row of some questions (a new truth, a
grader edit, an override, the reveal, publishing) and then the touched scholars' totals;
`rebuild` does it for everything (`manage.py grades verify`, with dry_run to only report).
A new attempt takes the short path in submissions.py through the same state functions and
the writers below. Every change of an attempt's points is logged in GradeChange.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

import sqlalchemy as sa

from ..extensions import db
from ..models import GradeChange, Puzzle, Question, Score, Submission, UserTotal
from ..timeutil import utcnow
from . import state
from .explanations import graded_points
from .generation import bump_generation
from .locks import lock_questions, lock_users
from .truth import truths_for

COUNTED = ("pending", "graded")
GRADE_COLUMNS = ("status", "score", "points", "correct", "feedback", "artifact_id")
SCORE_COLUMNS = ("points", "solved", "submission_id", "reached_at", "answered_at")
TOTAL_COLUMNS = ("points", "solved", "answered", "reached_at")


@dataclass
class Report:
    """What a refresh changed (or, dry, would change), with one line per difference."""

    attempts: int = 0   # attempts whose grade (status, score, points, correctness) changed
    relinked: int = 0   # attempts whose grade stayed but whose truth version or wording moved
    by_question: dict[int, int] = field(default_factory=dict)  # question id -> attempts regraded
    scores: int = 0
    totals: int = 0
    lines: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.attempts or self.relinked or self.scores or self.totals)


def _table(model):
    return model.__table__


_UPSERTS: dict[tuple[str, str], sa.Insert] = {}


def _upsert(model, columns: tuple[str, ...], keys: tuple[str, ...]) -> sa.Insert:
    """INSERT ... ON CONFLICT (keys) DO UPDATE of `columns`, on SQLite and PostgreSQL alike;
    built once per dialect with bound parameters (the grading hot path runs it)."""
    dialect = db.session.get_bind().dialect.name
    if (dialect, model.__name__) not in _UPSERTS:
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        table = _table(model)
        stmt = insert(table).values({c: sa.bindparam(c, type_=table.c[c].type) for c in columns})
        _UPSERTS[(dialect, model.__name__)] = stmt.on_conflict_do_update(
            index_elements=list(keys), set_={c: stmt.excluded[c] for c in columns if c not in keys})
    return _UPSERTS[(dialect, model.__name__)]


def write_scores(rows: list[tuple[int, int, state.ScoreRow | None]]) -> None:
    """Upsert (or, for None, delete) Score rows of (user, question): one statement per kind,
    run over all rows at once."""
    table = _table(Score)
    upserts = [{"user_id": uid, "question_id": qid, "puzzle_id": row.puzzle_id,
                **{c: getattr(row, c) for c in SCORE_COLUMNS}} for uid, qid, row in rows if row is not None]
    deletes = [{"u": uid, "q": qid} for uid, qid, row in rows if row is None]
    if upserts:
        columns = ("user_id", "question_id", "puzzle_id", *SCORE_COLUMNS)
        db.session.execute(_upsert(Score, columns, ("user_id", "question_id")), upserts)
    if deletes:
        db.session.execute(sa.delete(table).where(table.c.user_id == sa.bindparam("u"),
                                                  table.c.question_id == sa.bindparam("q")), deletes)


def write_totals(rows: list[tuple[int, state.TotalRow | None]]) -> None:
    """Upsert (or, for None, delete) UserTotal rows, one statement per kind."""
    table = _table(UserTotal)
    upserts = [{"user_id": uid, **{c: getattr(row, c) for c in TOTAL_COLUMNS}} for uid, row in rows if row]
    deletes = [{"u": uid} for uid, row in rows if row is None]
    if upserts:
        db.session.execute(_upsert(UserTotal, ("user_id", *TOTAL_COLUMNS), ("user_id",)), upserts)
    if deletes:
        db.session.execute(sa.delete(table).where(table.c.user_id == sa.bindparam("u")), deletes)


def score_rows(user_ids: Iterable[int]) -> dict[int, list[state.ScoreRow]]:
    table = _table(Score)
    out: dict[int, list[state.ScoreRow]] = defaultdict(list)
    ids = sorted(set(user_ids))
    if not ids:
        return out
    for r in db.session.execute(sa.select(table).where(table.c.user_id.in_(ids))).mappings():
        out[r["user_id"]].append(state.ScoreRow(r["user_id"], r["question_id"], r["puzzle_id"], r["points"],
                                                r["solved"], r["submission_id"], r["reached_at"],
                                                r["answered_at"]))
    return out


Derived = dict[tuple[int, int], "state.ScoreRow | None"]


def refresh_totals(user_ids: Iterable[int], report: Report, dry_run: bool = False,
                   derived: Derived | None = None) -> None:
    """Re-derive the totals of these scholars from their Score rows (locked per user).

    `derived` holds Score rows just derived and, when dry, not written: they replace the
    stored ones, so a dry run reports the totals a repair would write.
    """
    ids = sorted(set(user_ids))
    if not ids:
        return
    lock_users(ids)
    db.session.flush()
    scores = score_rows(ids)
    by_user: dict[int, dict[int, state.ScoreRow | None]] = defaultdict(dict)
    for (uid, qid), row in (derived or {}).items():
        by_user[uid][qid] = row
    for uid, rows in by_user.items():
        merged = {s.question_id: s for s in scores.get(uid, [])} | rows
        scores[uid] = [s for s in merged.values() if s is not None]
    table = _table(UserTotal)
    stored = {r["user_id"]: r for r in db.session.execute(
        sa.select(table).where(table.c.user_id.in_(ids))).mappings()}
    writes = []
    for uid in ids:
        row = state.user_total(uid, scores.get(uid, []))
        old = stored.get(uid)
        want = None if row is None else {c: getattr(row, c) for c in TOTAL_COLUMNS}
        have = None if old is None else {c: old[c] for c in TOTAL_COLUMNS}
        if want == have:
            continue
        report.totals += 1
        report.lines.append(f"user {uid} total: stored {have} != derived {want}")
        writes.append((uid, row))
    if writes and not dry_run:
        write_totals(writes)


def _rules(question_ids: list[int]) -> tuple[dict[int, state.Rules], dict[int, Question]]:
    questions = db.session.execute(
        sa.select(Question, Puzzle).join(Puzzle, Puzzle.id == Question.puzzle_id)
        .where(Question.id.in_(question_ids))).all()
    return ({q.id: state.Rules.of(q, p) for q, p in questions}, {q.id: q for q, _ in questions})


def refresh_questions(question_ids: Iterable[int], reason: str, *, verbatim: bool = False) -> Report:
    """Re-derive every attempt, Score row and affected total of these questions.

    Locks the questions first (see locks.py), so nothing is graded against a truth being
    replaced meanwhile. A change of points is logged as "graded: / regraded: / withdrawn:
    <reason>", or as `reason` itself when verbatim (an override says what it is). Does not
    commit.
    """
    report = Report()
    derived = _refresh_questions(sorted(set(question_ids)), reason, report, dry_run=False,
                                 verbatim=verbatim)
    refresh_totals({uid for uid, _ in derived}, report, derived=derived)
    if report.changed:
        bump_generation()
    return report


def _refresh_questions(ids: list[int], reason: str, report: Report, dry_run: bool,
                       verbatim: bool = False) -> Derived:
    """Attempts and Score rows of these questions; returns the changed Score rows."""
    if not ids:
        return {}
    lock_questions(ids)  # a dry run (grades verify) too: it must not read a half-made change
    db.session.flush()
    rules, questions = _rules(ids)
    truths = truths_for(questions.values())
    sub = _table(Submission)
    attempts: dict[tuple[int, int], list] = defaultdict(list)
    for r in db.session.execute(
            sa.select(sub).where(sub.c.question_id.in_(ids), sub.c.status.in_(COUNTED))
            .order_by(sub.c.id)).mappings():
        attempts[(r["user_id"], r["question_id"])].append(r)
    stored_scores = {(r["user_id"], r["question_id"]): r for r in db.session.execute(
        sa.select(_table(Score)).where(_table(Score).c.question_id.in_(ids))).mappings()}
    rubric = graded_points({qid: r.points for qid, r in rules.items() if r.kind == "explanation"})
    writes = _Writes(now=utcnow(), reason=reason, verbatim=verbatim)
    derived: Derived = {}
    for pair in sorted(set(attempts) | set(stored_scores)):
        user_id, qid = pair
        q_rules, truth = rules[qid], truths[qid]
        graded = []
        for r in attempts.get(pair, []):
            attempt = state.Attempt(r["id"], user_id, r["created_at"], r["payload"] or {},
                                    r["override_points"], r["override_correct"], rubric.get(r["id"]))
            grade = state.grade_attempt(q_rules, truth, attempt)
            graded.append((attempt, grade))
            writes.attempt(r, grade, report)
        row = state.question_score(q_rules, graded)
        old = stored_scores.get(pair)
        want = None if row is None else {c: getattr(row, c) for c in SCORE_COLUMNS}
        have = None if old is None else {c: old[c] for c in SCORE_COLUMNS}
        if want != have:
            report.scores += 1
            report.lines.append(f"user {user_id} question {qid} score: stored {have} != derived {want}")
            derived[pair] = row
            writes.scores.append((user_id, qid, row))
    if not dry_run:
        writes.apply()
    return derived


@dataclass
class _Writes:
    """The differences a refresh found, written at the end in a few executemany statements
    (a reveal re-derives thousands of attempts at once)."""

    now: object
    reason: str
    verbatim: bool
    attempts: list[dict] = field(default_factory=list)
    changes: list[dict] = field(default_factory=list)
    scores: list[tuple[int, int, state.ScoreRow | None]] = field(default_factory=list)

    def attempt(self, stored, grade: state.Grade, report: Report) -> None:
        want = {c: getattr(grade, c) for c in GRADE_COLUMNS}
        have = {c: stored[c] for c in GRADE_COLUMNS}
        if want == have:
            return
        graded_differently = any(want[c] != have[c] for c in ("status", "score", "points", "correct"))
        if graded_differently:
            report.attempts += 1
            qid = stored["question_id"]
            report.by_question[qid] = report.by_question.get(qid, 0) + 1
        else:
            report.relinked += 1
        report.lines.append(f"attempt {stored['id']}: stored {have} != derived {want}")
        graded_at = stored["graded_at"]
        if grade.status == "pending":
            graded_at = None
        elif graded_differently:
            graded_at = self.now
        self.attempts.append({"_id": stored["id"], **want, "graded_at": graded_at})
        if have["points"] != want["points"]:
            reason = self.reason
            why = (reason if self.verbatim else f"graded: {reason}" if have["status"] == "pending" else
                   f"withdrawn: {reason}" if want["status"] == "pending" else f"regraded: {reason}")
            self.changes.append({"submission_id": stored["id"], "old_points": have["points"],
                                 "new_points": want["points"], "old_artifact_id": have["artifact_id"],
                                 "new_artifact_id": want["artifact_id"], "reason": why, "created_at": self.now})

    def apply(self) -> None:
        sub = _table(Submission)
        if self.attempts:
            db.session.execute(sa.update(sub).where(sub.c.id == sa.bindparam("_id")).values(
                {c: sa.bindparam(c) for c in (*GRADE_COLUMNS, "graded_at")}), self.attempts)
        if self.changes:
            db.session.execute(sa.insert(_table(GradeChange)), self.changes)
        if self.scores:
            write_scores(self.scores)


def refresh_puzzles(puzzle_ids: Iterable[int], reason: str) -> Report:
    """Every question of these puzzles (publishing, the reveal, a schedule change)."""
    ids = list(db.session.scalars(sa.select(Question.id).where(Question.puzzle_id.in_(list(puzzle_ids)))))
    return refresh_questions(ids, reason)


def rebuild(*, dry_run: bool, reason: str = "rebuilt from the attempt log") -> Report:
    """Everything, from scratch: every question's attempts and scores, every total."""
    report = Report()
    derived = _refresh_questions(sorted(db.session.scalars(sa.select(Question.id))), reason, report, dry_run)
    users = set(db.session.scalars(sa.select(Score.user_id).distinct()))
    users |= set(db.session.scalars(sa.select(UserTotal.user_id))) | {uid for uid, _ in derived}
    refresh_totals(users, report, dry_run, derived)
    if report.changed and not dry_run:
        bump_generation()
    return report
