"""Who answered: every scholar's status on each question of a puzzle, for mentors.

Read from the attempt log (counted Submissions, their grade columns) and the mentors'
explanation grades, with the rules of grading/state.py: a challenge is graded at once (or
waits for its truth), a forecast waits for the reveal, an explanation waits for a mentor.
A constant number of queries whatever the number of scholars (one per table).
"""
from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass

import sqlalchemy as sa

from ..extensions import db
from .overrides import _cell  # the one defusing of spreadsheet formulas
from ..models import CohortMember, ExplanationGrade, Puzzle, Question, Submission, User

COUNTED = ("pending", "graded")  # rejected and rate-limited attempts used no try


@dataclass(frozen=True)
class Status:
    """One cell: `kind` is one of not_answered, pending, at_reveal, solved, wrong, points."""

    kind: str
    label: str
    tries: int = 0
    points: float | None = None

    @property
    def answered(self) -> bool:
        return self.kind != "not_answered"


@dataclass(frozen=True)
class Row:
    user: User
    statuses: list[Status]


@dataclass(frozen=True)
class Tally:
    question: Question
    answered: int
    total: int


NOT_ANSWERED = Status("not_answered", "not answered")


def _points_label(points: float | None) -> str:
    return f"{round(points or 0.0, 2):g} points"


def status_of(question: Question, scored: bool, attempts: list[Submission], mentor_graded: set[int]) -> Status:
    """One scholar's status on one question from their counted attempts (in attempt order)."""
    if not attempts:
        return NOT_ANSWERED
    tries = len(attempts)
    if question.kind == "explanation":
        before = [a for a in attempts if a.created_at < question.puzzle.deadline_at] or attempts
        last = before[-1]
        graded = last.id in mentor_graded or last.override_points is not None
        if not graded:
            return Status("pending", "pending (not graded yet)", tries)
        if not scored or last.status != "graded":
            return Status("at_reveal", "scored at the reveal", tries)
        return Status("points", _points_label(last.points), tries, last.points)
    if question.mode == "forecast":
        if not scored:
            return Status("at_reveal", "scored at the reveal", tries)
        before = [a for a in attempts if a.created_at < question.puzzle.deadline_at] or attempts
        last = before[-1]
        if last.status != "graded":
            return Status("pending", "pending (truth not computed)", tries)
        return Status("points", _points_label(last.points), tries, last.points)
    if any(a.status == "graded" and a.correct for a in attempts):
        return Status("solved", f"solved ({tries} {'try' if tries == 1 else 'tries'})", tries)
    if any(a.status == "pending" for a in attempts):
        return Status("pending", "pending (truth not computed)", tries)
    return Status("wrong", f"wrong ({tries} {'try' if tries == 1 else 'tries'})", tries)


def scholars(cohort_id: int | None) -> list[User]:
    query = sa.select(User).where(User.role == "scholar")
    if cohort_id is not None:
        query = query.where(User.id.in_(
            sa.select(CohortMember.user_id).where(CohortMember.cohort_id == cohort_id)))
    return list(db.session.scalars(query.order_by(User.display_name, User.username)))


def who_answered(puzzle: Puzzle, cohort_id: int | None = None) -> tuple[list[Tally], list[Row]]:
    """Per-question counts and one row per scholar (of the cohort, when given)."""
    questions = list(puzzle.questions)
    people = scholars(cohort_id)
    ids = [q.id for q in questions]
    log: dict[tuple[int, int], list[Submission]] = defaultdict(list)
    user_ids = {u.id for u in people}
    for sub in db.session.scalars(
            sa.select(Submission).where(Submission.question_id.in_(ids), Submission.status.in_(COUNTED),
                                        Submission.attempt_no.is_not(None))
            .order_by(Submission.attempt_no, Submission.id)):
        if sub.user_id in user_ids:
            log[(sub.user_id, sub.question_id)].append(sub)
    explanation_ids = [q.id for q in questions if q.kind == "explanation"]
    graded = set(db.session.scalars(
        sa.select(ExplanationGrade.submission_id).where(ExplanationGrade.question_id.in_(explanation_ids),
                                                        ExplanationGrade.graded_at.is_not(None)))) \
        if explanation_ids else set()
    scored = puzzle.scored_at is not None
    rows = [Row(u, [status_of(q, scored, log.get((u.id, q.id), []), graded) for q in questions])
            for u in people]
    tallies = [Tally(q, sum(r.statuses[i].answered for r in rows), len(rows))
               for i, q in enumerate(questions)]
    return tallies, rows


def who_answered_csv(puzzle: Puzzle, cohort_id: int | None = None) -> str:
    """The page as a spreadsheet: one row per scholar, one column per question."""
    tallies, rows = who_answered(puzzle, cohort_id)
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["username", "display_name", *(t.question.key for t in tallies)])
    for row in rows:
        writer.writerow([_cell(x) for x in (row.user.username, row.user.display_name,
                                            *(s.label for s in row.statuses))])
    return buf.getvalue()
