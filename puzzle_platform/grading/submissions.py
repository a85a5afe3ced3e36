"""Taking an attempt: checks in one place, every attempt logged, graded at once or pending.

Order of checks: the question must exist and its puzzle be live; the question must not be
solved already; attempts left; the wait after wrong answers (Advent of Code style); then the
answer itself. Whatever the outcome, the attempt is written to the Submission log.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError

from .answers import AnswerError, parse_answer, sanitize_payload_for_log
from ..extensions import db
from .truth import grade_new
from ..models import Puzzle, Question, Submission, User
from ..timeutil import utcnow

COUNTED = ("pending", "graded")


@dataclass
class Outcome:
    """What happened to an attempt: an HTTP-ish status, a message and the logged row."""

    status: int
    message: str
    submission: Submission | None
    retry_after: int | None = None


def attempts_used(user_id: int, question_id: int) -> int:
    return db.session.scalar(
        sa.select(sa.func.count()).select_from(Submission).where(
            Submission.user_id == user_id, Submission.question_id == question_id,
            Submission.status.in_(COUNTED))
    ) or 0


def is_solved(user_id: int, question_id: int) -> bool:
    return bool(db.session.scalar(
        sa.select(sa.func.count()).select_from(Submission).where(
            Submission.user_id == user_id, Submission.question_id == question_id,
            Submission.status == "graded", Submission.correct.is_(True))
    ))


def wait_until(user_id: int, question_id: int, now: datetime | None = None) -> datetime | None:
    """When the next attempt is allowed after a run of wrong answers, or None if now.

    The k-th wrong answer in a row makes the scholar wait WRONG_ANSWER_WAITS[k-1] seconds
    (the last value repeats), counted from when the wrong grade was given.
    """
    now = now or utcnow()
    graded = db.session.execute(
        sa.select(Submission.correct, Submission.graded_at).where(
            Submission.user_id == user_id, Submission.question_id == question_id,
            Submission.status == "graded").order_by(Submission.graded_at.desc(), Submission.id.desc())
    ).all()
    streak = 0
    for correct, _ in graded:
        if correct:
            break
        streak += 1
    if streak == 0:
        return None
    waits = current_app.config["WRONG_ANSWER_WAITS"]
    until = graded[0].graded_at + timedelta(seconds=waits[min(streak, len(waits)) - 1])
    return until if until > now else None


def _log(user: User, question: Question | None, puzzle: Puzzle | None, payload: dict,
         status: str, feedback: str, source: str) -> Submission:
    sub = Submission(user_id=user.id, question_id=question.id if question else None,
                     puzzle_id=puzzle.id if puzzle else None, payload=payload, status=status,
                     feedback=feedback, source=source)
    db.session.add(sub)
    db.session.commit()
    return sub


def submit(user: User, puzzle: Puzzle, question_key: str, data: dict, source: str = "web") -> Outcome:
    """Validate, log and (if truth exists) grade one attempt. Commits."""
    raw = sanitize_payload_for_log(data)
    question = db.session.scalar(
        sa.select(Question).where(Question.puzzle_id == puzzle.id, Question.key == question_key))
    if question is None:
        raw["question"] = question_key[:64]
        sub = _log(user, None, puzzle, raw, "rejected", f"Unknown question {question_key!r}.", source)
        return Outcome(404, sub.feedback, sub)

    def reject(status: int, message: str, log_status: str = "rejected", retry: int | None = None) -> Outcome:
        return Outcome(status, message, _log(user, question, puzzle, raw, log_status, message, source), retry)

    state = puzzle.state()
    if state == "upcoming":
        return reject(404, "This puzzle is not released yet.")
    if state in ("closed", "revealed"):
        return reject(403, "This puzzle is closed: the deadline has passed.")
    if is_solved(user.id, question.id):
        return reject(409, "You have already answered this question correctly.")
    used = attempts_used(user.id, question.id)
    if used >= question.max_attempts:
        return reject(403, f"No attempts left: this question allows {question.max_attempts}.")
    until = wait_until(user.id, question.id)
    if until is not None:
        seconds = max(1, int((until - utcnow()).total_seconds() + 0.999))
        return reject(429, f"Wrong answer recently: wait {seconds} s before trying again.",
                      "rate_limited", seconds)
    try:
        payload = parse_answer(question, data)
    except AnswerError as exc:
        return reject(400, str(exc))

    sub = Submission(user_id=user.id, question_id=question.id, puzzle_id=puzzle.id,
                     payload=payload, status="pending", attempt_no=used + 1, source=source)
    db.session.add(sub)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        return reject(409, "Another attempt on this question was being recorded at the same time; try again.")
    grade_new(sub, question)
    db.session.commit()
    if sub.status == "pending":
        return Outcome(202, sub.feedback, sub)
    return Outcome(201, sub.feedback, sub)
