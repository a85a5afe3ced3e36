"""Taking an attempt: checks in one place, every attempt logged, graded at once or pending.

Order of checks: the question must exist and its puzzle be live; a challenge must not be
solved already; attempts (a forecast's revisions) left; a challenge's wait after wrong
answers (Advent of Code style); then the answer itself. Whatever the outcome, the attempt is
written to the Submission log.

This is the hot path, so it is written for few round trips: the question is read and locked
with its puzzle in one statement, the scholar's attempts on it (and the lock on their total)
in another, and the derived rows are written only when the counted score changed. It calls
the same state functions as every other grading (grading/state.py); the rows it does not
re-read are, by that invariant, what those functions derived (`grades verify` checks it).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..models import Puzzle, Question, Submission, User
from ..timeutil import utcnow
from . import state
from .answers import AnswerError, parse_answer, sanitize_payload_for_log
from .generation import bump_generation
from .locks import write_lock
from .refresh import COUNTED, score_rows, write_scores, write_totals
from .truth import figure_statistics, truth_from


@dataclass(frozen=True)
class Recorded:
    """A counted attempt as just written (the reply needs its columns, not an ORM object)."""

    id: int
    user_id: int
    question_id: int
    puzzle_id: int
    payload: dict
    attempt_no: int
    source: str
    created_at: datetime
    feedback: str
    status: str
    score: float | None
    points: float | None
    correct: bool | None
    artifact_id: int | None
    graded_at: datetime | None


@dataclass
class Outcome:
    """What happened to an attempt: an HTTP-ish status, a message and the logged row."""

    status: int
    message: str
    submission: Submission | Recorded | None
    retry_after: int | None = None


@dataclass(frozen=True)
class History:
    """One scholar's counted attempts on one question, as the log and its grades hold them."""

    rows: list

    @property
    def used(self) -> int:
        return len(self.rows)

    @property
    def solved(self) -> bool:
        return any(r.status == "graded" and r.correct for r in self.rows)

    def wait_until(self, waits: tuple[int, ...], now: datetime) -> datetime | None:
        """When the next attempt is allowed after a run of wrong answers, or None if now.

        The k-th wrong answer in a row makes the scholar wait waits[k-1] seconds (the last
        value repeats), counted from when the wrong grade was given.
        """
        graded = sorted((r for r in self.rows if r.status == "graded"),
                        key=lambda r: (r.graded_at, r.id), reverse=True)
        streak = 0
        for r in graded:
            if r.correct:
                break
            streak += 1
        if streak == 0:
            return None
        until = graded[0].graded_at + timedelta(seconds=waits[min(streak, len(waits)) - 1])
        return until if until > now else None

    def attempts(self) -> list[tuple[state.Attempt, state.Grade]]:
        return [(state.Attempt(r.id, r.user_id, r.created_at, r.payload or {}, r.override_points,
                               r.override_correct),
                 state.Grade(r.status, r.score, r.points, r.correct, r.feedback, r.artifact_id))
                for r in self.rows]


def history(user_id: int, question_id: int, lock_user: bool = False) -> History:
    """The scholar's counted attempts on the question; with lock_user, also lock their user
    row (taken after the question's lock, see locks.py), which guards their total."""
    sub = Submission.__table__
    users = User.__table__
    stmt = (sa.select(users.c.id.label("uid"), sub)
            .select_from(users.outerjoin(sub, sa.and_(sub.c.user_id == users.c.id,
                                                      sub.c.question_id == question_id,
                                                      sub.c.status.in_(COUNTED))))
            .where(users.c.id == user_id).order_by(sub.c.id))
    if lock_user:
        stmt = stmt.with_for_update(of=users)
    return History([r for r in db.session.execute(stmt) if r.id is not None])


def _log(user: User, question: Question | None, puzzle: Puzzle | None, payload: dict,
         status: str, feedback: str, source: str) -> Submission:
    sub = Submission(user_id=user.id, question_id=question.id if question else None,
                     puzzle_id=puzzle.id if puzzle else None, payload=payload, status=status,
                     feedback=feedback, source=source)
    db.session.add(sub)
    db.session.commit()
    return sub


def _locked_question(slug: str, key: str) -> tuple[Question, Puzzle] | None:
    """The question and its puzzle, held in SHARE mode until commit (see locks.py: the
    puzzle is named first, so its row is locked first)."""
    write_lock()
    row = db.session.execute(
        sa.select(Question, Puzzle).select_from(Puzzle).join(Question, Question.puzzle_id == Puzzle.id)
        .where(Puzzle.slug == slug, Question.key == key)
        .with_for_update(read=True, of=[Puzzle.__table__, Question.__table__])
        .execution_options(populate_existing=True)).first()
    return (row[0], row[1]) if row else None


NO_PUZZLE = "No such puzzle (or it is not released yet)."
_COLUMNS = ("user_id", "question_id", "puzzle_id", "payload", "attempt_no", "source", "created_at", "feedback",
            "status", "score", "points", "correct", "artifact_id", "graded_at")
_INSERT = (sa.insert(Submission.__table__)  # built once: the hot path runs it for every attempt
           .values({c: sa.bindparam(c, type_=Submission.__table__.c[c].type) for c in _COLUMNS})
           .returning(Submission.__table__.c.id))


def submit(user: User, slug: str, question_key: str, data: dict, source: str = "web",
           mentor: bool = False) -> Outcome:
    """Validate, log and (when its mode and the truth allow) grade one attempt. Commits.

    A puzzle the scholar may not see is 404 and logs nothing (its questions stay unknown to
    them); an unknown question of a visible puzzle is logged as rejected.
    """
    raw = sanitize_payload_for_log(data)
    found = _locked_question(slug, question_key)
    if found is None:
        puzzle = db.session.scalar(sa.select(Puzzle).where(Puzzle.slug == slug))
        if puzzle is None or not (mentor or puzzle.is_released()):
            db.session.commit()  # nothing to log; the request's rate counts stay counted
            return Outcome(404, NO_PUZZLE, None)
        raw["question"] = question_key[:64]
        sub = _log(user, None, puzzle, raw, "rejected", f"Unknown question {question_key!r}.", source)
        return Outcome(404, sub.feedback, sub)
    question, puzzle = found
    if not (mentor or puzzle.is_released()):
        db.session.commit()
        return Outcome(404, NO_PUZZLE, None)

    def reject(status: int, message: str, log_status: str = "rejected", retry: int | None = None) -> Outcome:
        return Outcome(status, message, _log(user, question, puzzle, raw, log_status, message, source), retry)

    now = utcnow()
    current = puzzle.state(now)
    if current == "upcoming":
        return reject(404, "This puzzle is not released yet.")
    if current in ("closed", "revealed"):
        return reject(403, "This puzzle is closed: the deadline has passed.")
    rules = state.Rules.of(question, puzzle)
    past = history(user.id, question.id, lock_user=rules.graded)
    if question.mode == "challenge" and past.solved:
        return reject(409, "You have already answered this question correctly.")
    if past.used >= question.max_attempts:
        what = ("versions of an explanation" if question.kind == "explanation"
                else "revisions of a prediction" if question.is_forecast else "attempts")
        return reject(403, f"No attempts left: this question allows {question.max_attempts} {what}.")
    if question.mode == "challenge":
        until = past.wait_until(current_app.config["WRONG_ANSWER_WAITS"], now)
        if until is not None:
            seconds = max(1, int((until - now).total_seconds() + 0.999))
            return reject(429, f"Wrong answer recently: wait {seconds} s before trying again.",
                          "rate_limited", seconds)
    try:
        payload = parse_answer(question, data)
    except AnswerError as exc:
        return reject(400, str(exc))

    truth = None
    if rules.graded:
        statistics, artifact_id = ((None, None) if question.truth_literal is not None or not question.statistic
                                   else figure_statistics(puzzle.id, question.figure_key))
        truth = truth_from(question, statistics, artifact_id)
    attempt = state.Attempt(0, user.id, now, payload)
    grade = state.grade_attempt(rules, truth, attempt)
    values = dict(user_id=user.id, question_id=question.id, puzzle_id=puzzle.id, payload=payload,
                  attempt_no=past.used + 1, source=source, created_at=now, feedback=grade.feedback,
                  status=grade.status, score=grade.score, points=grade.points, correct=grade.correct,
                  artifact_id=grade.artifact_id, graded_at=now if grade.status == "graded" else None)
    try:
        new_id = db.session.execute(_INSERT, values).scalar_one()
    except IntegrityError:
        db.session.rollback()
        return reject(409, "Another attempt on this question was being recorded at the same time; try again.")
    if grade.status == "graded":
        before = state.question_score(rules, past.attempts())
        after = state.question_score(rules, [*past.attempts(), (state.Attempt(new_id, user.id, now, payload), grade)])
        if after != before:
            write_scores([(user.id, question.id, after)])
            write_totals([(user.id, state.user_total(user.id, score_rows([user.id])[user.id]))])
            bump_generation()
    db.session.commit()
    return Outcome(201 if grade.status == "graded" else 202, grade.feedback, Recorded(new_id, **values))
