"""What a scholar may see of explanations (questions of kind "explanation"), for the puzzle
page and the API alike: the one place that decides it.

Before the reveal a scholar sees their own versions only: no rubric item, comment or points
(mentors grade after the deadline; the grading is shown at the reveal), and nothing about
anyone else's explanation. After the reveal: the grading of their counted version, and the
featured explanations of the question (the counted version of their author, featured by a
mentor), with the author's display name unless they chose to appear anonymously.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import sqlalchemy as sa

from ..extensions import db
from ..grading.explanations import MAX_EXPLANATION, counted_version, rubric_points
from ..models import Question, Submission, User
from ..models.explanation import ExplanationGrade, Reaction, RubricApplication, RubricItem
from ..timeutil import iso

ANONYMOUS = "Anonymous scholar"
_WORD = re.compile(r"\S+")


def word_count(text: str) -> int:
    """Words as the page counts them (runs of non-space characters), so the server and the
    live counter in static/app.js agree."""
    return len(_WORD.findall(text or ""))


@dataclass
class AppliedItem:
    key: str
    description: str
    points: float


@dataclass
class Grading:
    """The grading of a scholar's counted version, shown after the reveal only."""

    submission_id: int
    items: list[AppliedItem]
    comment: str
    points: float


@dataclass
class Featured:
    grade_id: int
    author: str
    text: str
    helpful: int
    reacted: bool          # the viewer said "helpful" already
    own: bool              # the viewer wrote it


@dataclass
class ExplanationView:
    versions: list[Submission] = field(default_factory=list)   # the viewer's own, newest first
    current: Submission | None = None                          # the latest: pre-fills the form
    words: int = 0
    grading: Grading | None = None                             # after the reveal only
    graded: bool = False                                       # after the reveal: was it graded
    featured: list[Featured] = field(default_factory=list)     # after the reveal only
    max_chars: int = MAX_EXPLANATION


def _grading(question: Question, sub: Submission) -> Grading | None:
    grade = db.session.scalar(sa.select(ExplanationGrade).where(ExplanationGrade.submission_id == sub.id))
    if grade is None or grade.graded_at is None:
        return None
    items = [AppliedItem(i.key, i.description, float(i.points)) for i in db.session.scalars(
        sa.select(RubricItem).join(RubricApplication, RubricApplication.rubric_item_id == RubricItem.id)
        .where(RubricApplication.grade_id == grade.id).order_by(RubricItem.position, RubricItem.id))]
    points = rubric_points([i.points for i in items], question.points)
    return Grading(sub.id, items, grade.comment or "", points)


def featured(question: Question, viewer_id: int | None) -> list[Featured]:
    """The featured explanations of `question` (callers check the reveal): featured grades
    whose version is its author's counted version, oldest grade first."""
    rows = db.session.execute(
        sa.select(ExplanationGrade, Submission, User).join(Submission, Submission.id == ExplanationGrade.submission_id)
        .join(User, User.id == Submission.user_id)
        .where(ExplanationGrade.question_id == question.id, ExplanationGrade.featured.is_(True),
               ExplanationGrade.graded_at.is_not(None)).order_by(ExplanationGrade.id)).all()
    rows = [(g, s, u) for g, s, u in rows if (c := counted_version(question, u.id)) is not None and c.id == s.id]
    ids = [g.id for g, _, _ in rows]
    counts = dict(db.session.execute(sa.select(Reaction.grade_id, sa.func.count()).where(
        Reaction.grade_id.in_(ids)).group_by(Reaction.grade_id)).all()) if ids else {}
    mine = set(db.session.scalars(sa.select(Reaction.grade_id).where(
        Reaction.grade_id.in_(ids), Reaction.user_id == viewer_id))) if ids and viewer_id else set()
    return [Featured(g.id, ANONYMOUS if u.feature_anonymously else u.display_name, str(s.payload.get("text", "")),
                     int(counts.get(g.id, 0)), g.id in mine, u.id == viewer_id) for g, s, u in rows]


def explanation_view(question: Question, user: User | None, revealed: bool,
                     own: list[Submission] | None = None) -> ExplanationView:
    """What `user` (None: a visitor) sees of explanation question `question`."""
    view = ExplanationView()
    if user is not None:
        if own is None:
            own = list(db.session.scalars(sa.select(Submission).where(
                Submission.question_id == question.id, Submission.user_id == user.id)
                .order_by(Submission.id.desc())))
        view.versions = [s for s in own if s.status in ("pending", "graded")]
        view.current = view.versions[0] if view.versions else None
        view.words = word_count(view.current.payload.get("text", "")) if view.current else 0
        if revealed:
            counted = counted_version(question, user.id)
            view.grading = _grading(question, counted) if counted is not None else None
            view.graded = view.grading is not None
    if revealed:
        view.featured = featured(question, user.id if user is not None else None)
    return view


def version_json(sub: Submission) -> dict:
    return {"id": sub.id, "text": str(sub.payload.get("text", "")), "created_at": iso(sub.created_at)}


def grading_json(grading: Grading) -> dict:
    return {"submission_id": grading.submission_id, "comment": grading.comment, "points": grading.points,
            "items": [{"key": i.key, "description": i.description, "points": i.points} for i in grading.items]}


def featured_json(item: Featured) -> dict:
    return {"id": item.grade_id, "author": item.author, "text": item.text, "helpful": item.helpful,
            "reacted": item.reacted}


def react(grade_id: int, question: Question, user: User) -> tuple[int, str]:
    """Record `user`'s "helpful" on featured grade `grade_id` of `question` (the caller checks
    the reveal). Returns (HTTP status, message); the unique (grade, user) row is the last guard
    against a double click in two processes."""
    item = next((f for f in featured(question, user.id) if f.grade_id == grade_id), None)
    if item is None:
        return 404, "No such featured explanation."
    if item.own:
        return 403, "That explanation is yours."
    if item.reacted:
        return 409, "You already found it helpful."
    try:
        with db.session.begin_nested():
            db.session.add(Reaction(grade_id=grade_id, user_id=user.id))
    except sa.exc.IntegrityError:
        return 409, "You already found it helpful."
    db.session.commit()
    return 201, "Marked helpful."

