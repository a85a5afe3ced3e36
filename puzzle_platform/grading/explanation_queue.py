"""The mentors' grading queue of an explanation question: one answer at a time, claimed while
open so that several mentors grade the same question without overwriting each other.

What is graded is each scholar's counted version (the latest before the deadline). A mentor
claims one (ExplanationGrade.claimed_by/claimed_at) with a conditional UPDATE, or an INSERT
that does nothing on conflict; the unique submission_id is the last guard, so two mentors
asking at once get different answers. A claim older than CLAIM_SECONDS is free to take.
Grading writes the comment and the rubric items applied, clears the claim and re-derives the
question's scores (points enter the totals at the reveal, like forecasts).
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from ..community.notifications import queue_feedback_quietly
from ..extensions import db
from ..models import Question, Submission, User
from ..models.explanation import ExplanationGrade, RubricApplication, RubricItem
from ..timeutil import iso, utcnow
from .explanations import counted_subquery, rubric_points
from .locks import lock_questions, write_lock
from .refresh import refresh_questions

CLAIM_SECONDS = 600
MAX_COMMENT = 5000


class QueueError(ValueError):
    """A refused request: `status` is the HTTP status, str() the reason. Nothing changed."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Version:
    """One scholar's counted version in the queue; `number` is its stable "Answer #N"."""

    submission: Submission
    number: int
    grade: ExplanationGrade | None

    @property
    def graded(self) -> bool:
        return self.grade is not None and self.grade.graded_at is not None

    def claimed_by_other(self, mentor: User, now: datetime | None = None) -> bool:
        return _live_claim(self.grade, now) and self.grade.claimed_by != mentor.id


def _cutoff(now: datetime | None = None) -> datetime:
    return (now or utcnow()) - timedelta(seconds=CLAIM_SECONDS)


def _live_claim(grade: ExplanationGrade | None, now: datetime | None = None) -> bool:
    return (grade is not None and grade.graded_at is None and grade.claimed_by is not None
            and grade.claimed_at is not None and grade.claimed_at >= _cutoff(now))


def versions(question: Question) -> list[Version]:
    """Every counted version of the question with its grade (if any), in queue order."""
    counted = counted_subquery(question)
    rows = db.session.execute(
        sa.select(Submission, ExplanationGrade)
        .join(counted, counted.c.id == Submission.id)
        .outerjoin(ExplanationGrade, ExplanationGrade.submission_id == Submission.id)
        .order_by(counted.c.first)).all()
    return [Version(sub, n, grade) for n, (sub, grade) in enumerate(rows, start=1)]


def version(question: Question, submission_id: int) -> Version:
    """The counted version `submission_id` of this question, or 404 (a superseded version, or
    another question's, is not in the queue)."""
    for v in versions(question):
        if v.submission.id == submission_id:
            return v
    raise QueueError(404, f"answer {submission_id} is not a counted version of {question.key}")


def progress(question: Question) -> tuple[int, int]:
    """(graded, total) counted versions: "34 of 51 graded"."""
    counted = counted_subquery(question)
    total, graded = db.session.execute(
        sa.select(sa.func.count(), sa.func.count(ExplanationGrade.graded_at))
        .select_from(counted)
        .outerjoin(ExplanationGrade, ExplanationGrade.submission_id == counted.c.id)).one()
    return int(graded or 0), int(total or 0)


def _insert_claim(question: Question, submission_id: int, mentor: User, now: datetime) -> bool:
    """INSERT a claimed grade row unless the version has one; True if this inserted it."""
    dialect = db.session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    stmt = insert(ExplanationGrade.__table__).values(
        submission_id=submission_id, question_id=question.id, comment="", claimed_by=mentor.id,
        claimed_at=now, featured=False, updated_at=now).on_conflict_do_nothing(index_elements=["submission_id"])
    # RETURNING, not rowcount: with an implicit RETURNING the driver reports rowcount -1
    return db.session.execute(stmt.returning(ExplanationGrade.__table__.c.id)).scalar() is not None


def _take_claim(submission_id: int, mentor: User, now: datetime) -> bool:
    """Claim an existing ungraded row if nobody else holds it (conditional UPDATE)."""
    table = ExplanationGrade.__table__
    stmt = table.update().where(
        table.c.submission_id == submission_id, table.c.graded_at.is_(None),
        sa.or_(table.c.claimed_by.is_(None), table.c.claimed_by == mentor.id,
               table.c.claimed_at.is_(None), table.c.claimed_at < _cutoff(now)),
    ).values(claimed_by=mentor.id, claimed_at=now, updated_at=now).returning(table.c.id)
    return db.session.execute(stmt).scalar() is not None


def _release_mine(question: Question, mentor: User) -> None:
    """A mentor holds one answer of a question open at a time."""
    table = ExplanationGrade.__table__
    db.session.execute(table.update().where(
        table.c.question_id == question.id, table.c.claimed_by == mentor.id, table.c.graded_at.is_(None),
    ).values(claimed_by=None, claimed_at=None))


def claim_next(question: Question, mentor: User, anonymise: bool = True,
               skip: int | None = None) -> Version | None:
    """Claim the next ungraded counted version nobody else holds, and commit; None when none
    is left. `skip`: the answer the mentor passes over (released; taken again only if it is
    the last one). Anonymised, the queue order says nothing about the scholars: it is the
    order of their first versions; otherwise it is by username."""
    write_lock()
    _release_mine(question, mentor)
    now = utcnow()
    queue = [v for v in versions(question) if not v.graded and not v.claimed_by_other(mentor, now)]
    if not anonymise:
        queue.sort(key=lambda v: v.submission.user.username)
    ids = [v.submission.id for v in queue]
    if skip in ids:  # start after the skipped one, and come back to it last
        at = ids.index(skip)
        queue = queue[at + 1:] + queue[:at + 1]
    for v in queue:
        if _take_claim(v.submission.id, mentor, now) or _insert_claim(question, v.submission.id, mentor, now):
            db.session.commit()
            grade = db.session.scalar(sa.select(ExplanationGrade).where(
                ExplanationGrade.submission_id == v.submission.id))
            return Version(v.submission, v.number, grade)
    db.session.commit()
    return None


def release(submission_id: int, mentor: User) -> bool:
    """Give back this mentor's claim on the answer (if they hold it); commits."""
    table = ExplanationGrade.__table__
    done = db.session.execute(table.update().where(
        table.c.submission_id == submission_id, table.c.claimed_by == mentor.id, table.c.graded_at.is_(None),
    ).values(claimed_by=None, claimed_at=None).returning(table.c.id)).scalar() is not None
    db.session.commit()
    return done


def rubric(question: Question) -> list[RubricItem]:
    return list(db.session.scalars(sa.select(RubricItem).where(RubricItem.question_id == question.id)
                                   .order_by(RubricItem.position, RubricItem.id)))


def grade(submission_id: int, mentor: User, applied_item_keys: list[str], comment: str) -> ExplanationGrade:
    """Write the mentor's grading of a counted version: the rubric items that apply and a
    comment; clears the claim. Refused (409) while another mentor holds a live claim on it.
    Re-derives the question's scores under its lock, then commits; a comment then queues the
    scholar's feedback email (if they asked for those)."""
    sub = db.session.get(Submission, submission_id)
    if sub is None or sub.question is None or sub.question.kind != "explanation":
        raise QueueError(404, f"no explanation answer {submission_id}")
    question = sub.question
    comment = (comment or "").replace("\r\n", "\n").strip()
    if len(comment) > MAX_COMMENT:
        raise QueueError(400, f"the comment must be at most {MAX_COMMENT} characters")
    lock_questions([question.id])  # puzzles, then questions: before the grade row (locks.py)
    version(question, submission_id)  # counted, checked under the lock
    items = {item.key: item for item in rubric(question)}
    unknown = sorted(set(applied_item_keys) - set(items))
    if unknown:
        db.session.rollback()
        raise QueueError(400, f"no rubric item {', '.join(map(repr, unknown))} on {question.key}")
    now = utcnow()
    _insert_claim(question, submission_id, mentor, now)  # a row to lock, if there was none
    row = db.session.scalar(sa.select(ExplanationGrade).where(ExplanationGrade.submission_id == submission_id)
                            .with_for_update().execution_options(populate_existing=True))
    if _live_claim(row, now) and row.claimed_by != mentor.id:
        holder = db.session.get(User, row.claimed_by)
        name = holder.display_name if holder else "another mentor"
        claimed = iso(row.claimed_at)
        db.session.rollback()
        raise QueueError(409, f"{name} has this answer open (claimed at {claimed}); nothing was changed")
    row.comment, row.graded_by, row.graded_at = comment, mentor.id, now
    row.claimed_by = row.claimed_at = None
    row.updated_at = now
    db.session.execute(sa.delete(RubricApplication).where(RubricApplication.grade_id == row.id))
    db.session.add_all(RubricApplication(grade_id=row.id, rubric_item_id=items[key].id)
                       for key in sorted(set(applied_item_keys)))
    refresh_questions([question.id], f"explanation graded by {mentor.username}")
    db.session.commit()
    if comment:
        queue_feedback_quietly(sub)
    return row


def feature(grade_id: int, on: bool) -> ExplanationGrade:
    """Mark a graded answer as featured (shown under the official answer after the reveal),
    or not; commits. Only graded versions can be featured."""
    table = ExplanationGrade.__table__
    done = db.session.execute(table.update().where(table.c.id == grade_id, table.c.graded_at.is_not(None))
                              .values(featured=on, updated_at=utcnow()).returning(table.c.id)).scalar()
    if not done:
        db.session.rollback()
        raise QueueError(409, "only a graded answer can be featured: grade it first")
    db.session.commit()
    return db.session.get(ExplanationGrade, grade_id)


def applied_keys(grade_row: ExplanationGrade | None) -> set[str]:
    if grade_row is None:
        return set()
    return set(db.session.scalars(sa.select(RubricItem.key).join(
        RubricApplication, RubricApplication.rubric_item_id == RubricItem.id)
        .where(RubricApplication.grade_id == grade_row.id)))


def _cell(value: object) -> object:
    """Spreadsheets run cells that start with = + - @ as formulas: defuse user text."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def rubric_csv(question: Question) -> str:
    """One row per graded counted version: who, which version, each rubric item as 0/1, the
    points, the comment, the grader and when."""
    items = rubric(question)
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["username", "submission_id", "version_at", *(i.key for i in items), "points",
                     "comment", "grader", "graded_at"])
    graders = {u.id: u.username for u in db.session.scalars(sa.select(User).join(
        ExplanationGrade, ExplanationGrade.graded_by == User.id).where(
        ExplanationGrade.question_id == question.id))}
    for v in versions(question):
        if not v.graded:
            continue
        applied = applied_keys(v.grade)
        writer.writerow([_cell(x) for x in (
            v.submission.user.username, v.submission.id, iso(v.submission.created_at),
            *(int(i.key in applied) for i in items),
            rubric_points([i.points for i in items if i.key in applied], question.points),
            v.grade.comment, graders.get(v.grade.graded_by, ""), iso(v.grade.graded_at))])
    return buf.getvalue()
