"""Mentors' control of grades: the attempt log with filters, overrides with a reason, CSV.

An override sets an attempt's points and whether it counts as correct, together, and wins
over the grader until it is removed (grading/state.py); every change of points is logged in
GradeChange with its reason, and the Score row, "solved", the attempt limits and the
leaderboards follow at once, re-derived under the question's lock (grading/refresh.py).
"""
from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa

from ..community.notifications import queue_feedback_quietly
from ..extensions import db
from .locks import lock_questions
from .refresh import refresh_questions
from ..models import GradeChange, Question, Score, Submission, User
from ..models.submission import STATUSES
from ..timeutil import iso

PER_PAGE = 50
MAX_REASON = 1000


class GradeControlError(ValueError):
    """A refused request: `status` is the HTTP status, str() the reason. Nothing changed."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class SubmissionFilter:
    """What the submissions page is narrowed to (all optional); dates are days in `tz`, the
    viewer's zone (the page's script fills it in from the browser; without it, UTC)."""

    status: str = ""
    user: str = ""
    correct: str = ""  # "", "yes", "no"
    since: date | None = None
    until: date | None = None
    tz: str = "UTC"

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> "SubmissionFilter":
        status = args.get("status", "").strip()
        if status and status not in STATUSES:
            raise GradeControlError(400, f"status must be one of {', '.join(STATUSES)}")
        correct = args.get("correct", "").strip()
        if correct not in ("", "yes", "no"):
            raise GradeControlError(400, "correct must be yes or no")
        days = {}
        for name in ("since", "until"):
            raw = args.get(name, "").strip()
            try:
                days[name] = date.fromisoformat(raw) if raw else None
            except ValueError:
                raise GradeControlError(400, f"{name} must be a date such as 2026-12-01") from None
        if days["since"] and days["until"] and days["since"] > days["until"]:
            raise GradeControlError(400, "since must not be after until")
        tz = args.get("tz", "").strip() or "UTC"
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise GradeControlError(400, f"unknown time zone {tz[:60]!r}") from None
        return cls(status, args.get("user", "").strip()[:64], correct, days["since"], days["until"], tz)

    def as_args(self) -> dict[str, str]:
        out = {"status": self.status, "user": self.user, "correct": self.correct,
               "since": self.since.isoformat() if self.since else "",
               "until": self.until.isoformat() if self.until else "",
               "tz": self.tz if self.tz != "UTC" else ""}
        return {k: v for k, v in out.items() if v}


def _day_start(day: date, tz: str = "UTC") -> datetime:
    """Midnight of `day` in zone `tz`, as a UTC time."""
    return datetime.combine(day, time.min, tzinfo=ZoneInfo(tz)).astimezone(timezone.utc)


def submissions_page(question: Question, flt: SubmissionFilter, page: int) -> tuple[list[Submission], int]:
    """One page of the question's attempts, newest first, and how many match in all."""
    stmt = sa.select(Submission).join(User, User.id == Submission.user_id).where(
        Submission.question_id == question.id)
    if flt.status:
        stmt = stmt.where(Submission.status == flt.status)
    if flt.user:
        like = f"%{flt.user.lower()}%"
        stmt = stmt.where(sa.or_(sa.func.lower(User.username).like(like),
                                 sa.func.lower(User.display_name).like(like)))
    if flt.correct:
        stmt = stmt.where(Submission.correct.is_(flt.correct == "yes"))
    if flt.since:
        stmt = stmt.where(Submission.created_at >= _day_start(flt.since, flt.tz))
    if flt.until:
        stmt = stmt.where(Submission.created_at < _day_start(flt.until + timedelta(days=1), flt.tz))
    total = db.session.scalar(sa.select(sa.func.count()).select_from(stmt.subquery())) or 0
    rows = db.session.scalars(stmt.order_by(Submission.created_at.desc(), Submission.id.desc())
                              .offset((page - 1) * PER_PAGE).limit(PER_PAGE)).all()
    return list(rows), total


def _overridable(sub: Submission) -> Question:
    if sub.question is None or sub.status != "graded":
        raise GradeControlError(409, f"attempt {sub.id} is {sub.status}: only graded attempts "
                                     "can be overridden")
    return sub.question


def _reason(text: str) -> str:
    reason = (text or "").strip()
    if not reason:
        raise GradeControlError(400, "give a reason: the scholar sees it next to the new points")
    if len(reason) > MAX_REASON:
        raise GradeControlError(400, f"the reason must be at most {MAX_REASON} characters")
    return reason


def _locked(sub: Submission) -> Question:
    """Lock the attempt's question (see locks.py), then check it afresh."""
    if sub.question_id is not None:
        lock_questions([sub.question_id])
        db.session.refresh(sub)
    return _overridable(sub)


def _counts_as_correct(text: str | None, points: float, question: Question) -> bool:
    choice = (text or "").strip().lower()
    if choice in ("yes", "no"):
        return choice == "yes"
    if choice:
        raise GradeControlError(400, "correct must be yes or no")
    return points >= question.points  # full marks count as solved unless the mentor says not


def override(sub: Submission, points_text: str, reason_text: str, mentor: User,
             correct_text: str | None = None) -> None:
    """Set an attempt's points and correctness by hand, with a reason the scholar sees. Commits,
    then queues the scholar's feedback email (if they asked for those)."""
    question = _locked(sub)
    try:
        points = float((points_text or "").strip())
    except ValueError:
        raise GradeControlError(400, f"points must be a number from 0 to {question.points:g}") from None
    if not math.isfinite(points) or not 0 <= points <= question.points:
        raise GradeControlError(400, f"points must be a number from 0 to {question.points:g}")
    correct = _counts_as_correct(correct_text, points, question)
    reason = _reason(reason_text)
    if sub.points == points and sub.correct == correct:
        db.session.add(GradeChange(submission_id=sub.id, old_points=sub.points, new_points=points,
                                   old_artifact_id=sub.artifact_id, new_artifact_id=sub.artifact_id,
                                   reason=f"override by {mentor.username}: {reason}"))
    sub.override_points, sub.override_correct = points, correct
    sub.override_reason, sub.overridden_by = reason, mentor.id
    refresh_questions([question.id], f"override by {mentor.username}: {reason}", verbatim=True)
    db.session.commit()
    queue_feedback_quietly(sub)


def remove_override(sub: Submission, mentor: User) -> None:
    """Give the attempt back to the grader: its own grade against the current truth. Commits."""
    _locked(sub)
    if sub.override_points is None:
        raise GradeControlError(409, f"attempt {sub.id} has no override to remove")
    sub.override_points = sub.override_correct = sub.override_reason = sub.overridden_by = None
    refresh_questions([sub.question_id], f"override removed by {mentor.username}", verbatim=True)
    db.session.commit()


def regrade(question: Question, mentor: User) -> int:
    """Re-derive a question's attempts against its current truth; returns how many changed."""
    report = refresh_questions([question.id], f"requested by {mentor.username}")
    db.session.commit()
    return report.attempts


CSV_HEADER = ("username", "display_name", "question", "payload", "status", "score", "points",
              "correct", "override", "override_reason", "counted", "created_at", "graded_at")


def _cell(value: object) -> object:
    """Spreadsheets run cells that start with = + - @ as formulas: defuse user text."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def submissions_csv(puzzle_id: int) -> str:
    """Every attempt on the puzzle, with whether it is the one counted in the scholar's score."""
    counted = set(db.session.scalars(sa.select(Score.submission_id).where(Score.puzzle_id == puzzle_id)))
    rows = db.session.execute(
        sa.select(Submission, User.username, User.display_name, Question.key)
        .join(User, User.id == Submission.user_id)
        .outerjoin(Question, Question.id == Submission.question_id)
        .where(Submission.puzzle_id == puzzle_id)
        .order_by(Submission.created_at, Submission.id)).all()
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(CSV_HEADER)
    for sub, username, display_name, key in rows:
        writer.writerow([_cell(x) for x in (
            username, display_name, key or sub.payload.get("question", ""),
            json.dumps(sub.payload, sort_keys=True), sub.status, sub.score, sub.points,
            "" if sub.correct is None else sub.correct, sub.override_points,
            sub.override_reason or "", sub.id in counted, iso(sub.created_at), iso(sub.graded_at) or "")])
    return buf.getvalue()
