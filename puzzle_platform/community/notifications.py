"""Queueing email notifications: a puzzle went live, was revealed, a mentor's feedback arrived.

Each opted-in user (profile: notify_live, notify_reveal, notify_feedback) gets one row per
event in `notifications`, inserted with INSERT ... SELECT ... ON CONFLICT DO NOTHING: the unique
(user_id, kind, ref) makes queueing idempotent, so the periodic check, the `notify check`
command and two workers at once queue one email per person and event. The rows are then
handed to the sending task (jobs/mail.py); with SMTP_HOST empty they simply stay queued.

Nothing derived from the truth is written before the reveal: a "live" email gives the title,
the deadline and a link; a "revealed" email says the results are out; a feedback email on an
unrevealed puzzle says only that there is news (no points, no comment, no reason).
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app, url_for

from ..extensions import db
from ..models import Notification, Puzzle, Question, Submission, User
from ..models.explanation import ExplanationGrade
from ..models.submission import GradeChange
from ..timeutil import UTCDateTime, utcnow

log = logging.getLogger(__name__)

# Puzzles released or revealed longer ago than this are not announced: the first deploy (or a
# worker back after a long pause) must not mail everyone about old puzzles.
ANNOUNCE_WITHIN = timedelta(days=1)
OPT_IN = {"live": User.notify_live, "revealed": User.notify_reveal, "feedback": User.notify_feedback}


def _when(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%d %H:%M UTC")


def puzzle_link(slug: str) -> str:
    """The puzzle page's absolute URL under SITE_URL, or "" when SITE_URL is not set (a
    relative link in an email leads nowhere)."""
    site = current_app.config.get("SITE_URL", "")
    if not site:
        return ""
    with current_app.test_request_context():
        return site + url_for("puzzles.show", slug=slug)


def _with_link(text: str, slug: str) -> str:
    link = puzzle_link(slug)
    name = current_app.config.get("SITE_NAME", "Mech Interp Puzzles")
    tail = f"\n{link}\n" if link else ""
    return (f"{text}\n{tail}\n-- \n{name}. You get this email because you asked for it on your "
            "profile page; untick the box there to stop.\n")


def _insert(kind: str, ref: str, subject: str, body: str, user_id: int | None = None) -> list[int]:
    """Queue the email for every user opted in to `kind` (only `user_id` if given); the ids of
    the rows this call inserted (none for users who already have theirs). Commits."""
    dialect = db.session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    table = Notification.__table__
    subject = " ".join(subject.split())  # one header line, whatever a title holds
    select = sa.select(
        User.id, sa.literal(kind), sa.literal(ref), sa.literal(subject[:200]), sa.literal(body),
        sa.literal("queued"), sa.literal(0), sa.literal(""), sa.literal(utcnow(), UTCDateTime()),
    ).where(OPT_IN[kind].is_(True))
    if user_id is not None:
        select = select.where(User.id == user_id)
    columns = ["user_id", "kind", "ref", "subject", "body", "status", "attempts", "error", "created_at"]
    stmt = (insert(table).from_select(columns, select)
            .on_conflict_do_nothing(index_elements=["user_id", "kind", "ref"]).returning(table.c.id))
    ids = list(db.session.execute(stmt).scalars())
    db.session.commit()
    return ids


def _queue(kind: str, ref: str, subject: str, body: str, user_id: int | None = None) -> list[int]:
    ids = _insert(kind, ref, subject, body, user_id)
    if ids:
        from ..jobs.mail import send_notifications
        send_notifications(ids)
    return ids


def queue_puzzle_live(puzzle: Puzzle) -> list[int]:
    """Announce that the puzzle is open: title, deadline, link."""
    subject = f"Puzzle {puzzle.number} is live: {puzzle.title}"
    body = (f"Puzzle {puzzle.number}, “{puzzle.title}”, is open for answers until "
            f"{_when(puzzle.deadline_at)}.\n" + (f"\n{puzzle.summary}\n" if puzzle.summary else ""))
    return _queue("live", f"puzzle:{puzzle.id}", subject, _with_link(body, puzzle.slug))


def queue_puzzle_revealed(puzzle: Puzzle) -> list[int]:
    """Announce that the answers and results are out (the email itself holds none)."""
    subject = f"Puzzle {puzzle.number} is revealed: {puzzle.title}"
    body = (f"The answers to puzzle {puzzle.number}, “{puzzle.title}”, are out: see the "
            "official answer, your points and the leaderboard on the site.\n")
    return _queue("revealed", f"puzzle:{puzzle.id}", subject, _with_link(body, puzzle.slug))


def _feedback_event(sub: Submission) -> tuple[str, str, str] | None:
    """(ref suffix, what happened, the mentor's text) for the latest feedback on `sub`: its
    override if the last grade change is one, else its explanation grading's comment."""
    grade = db.session.scalar(sa.select(ExplanationGrade).where(ExplanationGrade.submission_id == sub.id))
    change = db.session.scalar(sa.select(GradeChange).where(GradeChange.submission_id == sub.id)
                               .order_by(GradeChange.id.desc()).limit(1))
    override_at = change.created_at if change is not None and sub.override_points is not None else None
    comment_at = grade.graded_at if grade is not None and grade.comment else None
    if override_at is not None and (comment_at is None or override_at >= comment_at):
        return f"override-{change.id}", "changed the points of your answer", sub.override_reason or ""
    if comment_at is not None:
        return f"comment-{int(comment_at.timestamp() * 1000)}", "commented on your answer", grade.comment
    return None


def queue_feedback(submission: Submission) -> list[int]:
    """Tell the scholar a mentor's override or comment reached their answer. Before the
    puzzle's reveal the email says only that there is news: no points, no comment."""
    event = _feedback_event(submission)
    question = db.session.get(Question, submission.question_id) if submission.question_id else None
    if event is None or question is None:
        return []
    suffix, what, text = event
    puzzle = question.puzzle
    subject = f"Feedback on your answer to puzzle {puzzle.number}: {puzzle.title}"
    body = f"A mentor {what} to “{question.key}” in puzzle {puzzle.number}, “{puzzle.title}”.\n"
    if puzzle.is_revealed():
        if submission.points is not None:
            body += f"\nPoints: {submission.points:g} of {question.points:g}\n"
        if text:
            body += f"\nThe mentor wrote:\n{text}\n"
    else:
        body += f"\nYou will see it on the puzzle's page from the reveal, {_when(puzzle.reveal_at)}.\n"
    return _queue("feedback", f"submission:{submission.id}:{suffix}", subject,
                  _with_link(body, puzzle.slug), submission.user_id)


def queue_due(now: datetime | None = None) -> dict[str, list[int]]:
    """The periodic check: queue "live" and "revealed" emails for published puzzles released
    or revealed within ANNOUNCE_WITHIN. Repeats are harmless (the unique key). Returns the new
    notification ids by kind."""
    now = now or utcnow()
    since = now - ANNOUNCE_WITHIN
    out: dict[str, list[int]] = {"live": [], "revealed": []}
    published = Puzzle.published.is_(True)
    live = db.session.scalars(sa.select(Puzzle).where(
        published, Puzzle.release_at <= now, Puzzle.release_at > since, Puzzle.deadline_at > now)).all()
    revealed = db.session.scalars(sa.select(Puzzle).where(
        published, Puzzle.reveal_at <= now, Puzzle.reveal_at > since)).all()
    for puzzle in live:
        out["live"] += queue_puzzle_live(puzzle)
    for puzzle in revealed:
        out["revealed"] += queue_puzzle_revealed(puzzle)
    return out


def queue_feedback_quietly(submission: Submission) -> None:
    """queue_feedback for the grading paths: the grade is committed already, and a failure to
    queue an email must not turn the mentor's request into an error."""
    try:
        queue_feedback(submission)
    except Exception:  # noqa: BLE001 - an email is a courtesy; the grade stands
        db.session.rollback()
        log.warning("could not queue the feedback email for submission %s", submission.id, exc_info=True)
