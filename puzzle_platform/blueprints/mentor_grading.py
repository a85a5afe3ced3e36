"""Mentor area: grading control. A question's attempts (filtered, paged), regrading, overrides
with a reason the scholar sees, and a CSV of a puzzle's attempts and scores.

Mentors and admins only (mentor_required: anonymous 401, scholars 403); the rules live in
puzzle_platform.grading.overrides.
"""
from __future__ import annotations

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from ..access.visibility import visible_puzzle, visible_question
from ..access.roles import mentor_required
from ..extensions import db
from ..grading.overrides import (PER_PAGE, GradeControlError, SubmissionFilter, override, regrade,
                             remove_override, submissions_csv, submissions_page)
from ..grading.truth import resolve_truth
from ..models import Puzzle, Question, Submission
from ..models.submission import STATUSES

bp = Blueprint("mentor_grading", __name__, url_prefix="/mentor")


def _question(slug: str, key: str) -> Question:
    return visible_question(slug, key, mentor=True)


def _render(question: Question, error: str | None = None, status: int = 200):
    try:
        flt = SubmissionFilter.from_args(request.args)
    except GradeControlError as exc:
        flt, error, status = SubmissionFilter(), str(exc), exc.status
    page = min(max(1, request.args.get("page", 1, type=int)), 10**6)  # OFFSET stays a small number
    rows, total = submissions_page(question, flt, page)
    truth = resolve_truth(question)
    return render_template(
        "mentor/submissions.html", question=question, puzzle=question.puzzle, rows=rows,
        total=total, page=page, pages=max(1, -(-total // PER_PAGE)), flt=flt, error=error,
        truth=truth.value if truth else None, statuses=STATUSES,
    ), status


@bp.get("/puzzles/<slug>/questions/<key>/submissions")
@mentor_required
def submissions(slug: str, key: str):
    return _render(_question(slug, key))


@bp.post("/puzzles/<slug>/questions/<key>/regrade")
@mentor_required
def regrade_view(slug: str, key: str):
    question = _question(slug, key)
    if resolve_truth(question) is None:
        return _render(question, "Nothing to regrade against: the ground truth is not computed yet.", 409)
    changed = regrade(question, current_user)
    flash(f"Regraded {question.key}: {changed} attempt(s) changed.", "success")
    return redirect(url_for("mentor_grading.submissions", slug=slug, key=key), 303)


def _submission(submission_id: int) -> Submission:
    sub = db.session.get(Submission, submission_id)
    if sub is None or sub.question is None:
        abort(404, "No such attempt.")
    return sub


def _back(sub: Submission):
    q = sub.question
    return redirect(url_for("mentor_grading.submissions", slug=q.puzzle.slug, key=q.key,
                            _anchor=f"sub-{sub.id}"), 303)


@bp.post("/submissions/<int:submission_id>/override")
@mentor_required
def override_view(submission_id: int):
    sub = _submission(submission_id)
    try:
        override(sub, request.form.get("points", ""), request.form.get("reason", ""), current_user,
                 request.form.get("correct"))
    except GradeControlError as exc:
        return _render(sub.question, f"Attempt {sub.id} not changed: {exc}", exc.status)
    flash(f"Attempt {sub.id} of {sub.user.username} now counts {sub.points:g} points (override).", "success")
    return _back(sub)


@bp.post("/submissions/<int:submission_id>/override/remove")
@mentor_required
def remove_override_view(submission_id: int):
    sub = _submission(submission_id)
    try:
        remove_override(sub, current_user)
    except GradeControlError as exc:
        return _render(sub.question, f"Attempt {sub.id} not changed: {exc}", exc.status)
    now = (f"counts the grader's {sub.points:g} points again" if sub.points is not None
           else "is pending again (not graded yet)")
    flash(f"Override removed: attempt {sub.id} {now}.", "success")
    return _back(sub)


@bp.get("/puzzles/<slug>/submissions.csv")
@mentor_required
def csv_export(slug: str):
    puzzle: Puzzle = visible_puzzle(slug, mentor=True)
    return Response(submissions_csv(puzzle.id), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="submissions-{puzzle.slug}.csv"'})
