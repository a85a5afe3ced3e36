"""Mentor area: the grading queue of an explanation question. Answers one at a time,
anonymised until graded, rubric items toggled with the keys 1-9 (static/mentor.js), a
comment, "save and next ungraded"; featuring graded answers; a CSV of rubric applications.

Mentors and admins only (mentor_required: anonymous 401, scholars 403); the rules live in
puzzle_platform.grading.explanation_queue.
"""
from __future__ import annotations

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from ..access.roles import mentor_required
from ..access.visibility import visible_question
from ..extensions import db
from ..grading import explanation_queue as eq
from ..models import Question, Submission

bp = Blueprint("mentor_explanations", __name__, url_prefix="/mentor")
Q = "/puzzles/<slug>/questions/<key>/explanations"


def _question(slug: str, key: str) -> Question:
    question = visible_question(slug, key, mentor=True)
    if question.kind != "explanation":
        abort(404, f"Question {key!r} is not an explanation question: it has no grading queue.")
    return question


def _queue_url(q: Question) -> str:
    return url_for("mentor_explanations.queue", slug=q.puzzle.slug, key=q.key)


def _answer_url(submission_id: int) -> str:
    return url_for("mentor_explanations.answer", submission_id=submission_id)


def _question_of(submission_id: int) -> Question:
    """The explanation question of an answer (404 for any other attempt)."""
    sub = db.session.get(Submission, submission_id)
    if sub is None or sub.question is None or sub.question.kind != "explanation":
        abort(404, f"No explanation answer {submission_id}.")
    return _question(sub.question.puzzle.slug, sub.question.key)


@bp.get(Q)
@mentor_required
def queue(slug: str, key: str):
    question = _question(slug, key)
    graded, total = eq.progress(question)
    return render_template("mentor/explanations.html", question=question, puzzle=question.puzzle,
                           versions=eq.versions(question), graded=graded, total=total,
                           me=current_user, claim_minutes=eq.CLAIM_SECONDS // 60)


def _next(question: Question, skip: int | None = None):
    """Claim the next ungraded answer and open it; back to the queue when none is left."""
    claimed = eq.claim_next(question, current_user, skip=skip)
    if claimed is None:
        graded, total = eq.progress(question)
        flash(f"No ungraded answer is free: {graded} of {total} graded.", "success")
        return redirect(_queue_url(question), 303)
    return redirect(_answer_url(claimed.submission.id), 303)


@bp.post(Q + "/next")
@mentor_required
def next_ungraded(slug: str, key: str):
    question = _question(slug, key)
    return _next(question, request.form.get("skip", type=int))


def _render(question: Question, submission_id: int, error: str | None = None, status: int = 200):
    try:
        version = eq.version(question, submission_id)
    except eq.QueueError as exc:
        abort(exc.status, str(exc))
    graded, total = eq.progress(question)
    return render_template(
        "mentor/explanation.html", question=question, puzzle=question.puzzle, v=version,
        items=eq.rubric(question), applied=eq.applied_keys(version.grade), graded=graded, total=total,
        held_by_other=version.claimed_by_other(current_user), me=current_user, error=error,
        claim_minutes=eq.CLAIM_SECONDS // 60,
    ), status


@bp.get("/explanations/<int:submission_id>")
@mentor_required
def answer(submission_id: int):
    return _render(_question_of(submission_id), submission_id)


@bp.post("/explanations/<int:submission_id>")
@mentor_required
def save(submission_id: int):
    question = _question_of(submission_id)
    try:
        eq.grade(submission_id, current_user, request.form.getlist("items"), request.form.get("comment", ""))
    except eq.QueueError as exc:
        db.session.rollback()
        return _render(question, submission_id, f"Not saved: {exc}", exc.status)
    flash(f"Saved the grading of answer {submission_id}.", "success")
    if request.form.get("then") == "next":
        return _next(question)
    return redirect(_answer_url(submission_id), 303)


@bp.post("/explanations/<int:submission_id>/feature")
@mentor_required
def feature(submission_id: int):
    question = _question_of(submission_id)
    try:
        version = eq.version(question, submission_id)
        if version.grade is None:
            raise eq.QueueError(409, "only a graded answer can be featured: grade it first")
        on = request.form.get("on") == "1"
        eq.feature(version.grade.id, on)
    except eq.QueueError as exc:
        db.session.rollback()
        return _render(question, submission_id, f"Not changed: {exc}", exc.status)
    flash("Featured: shown under the official answer after the reveal." if on else "No longer featured.",
          "success")
    return redirect(_answer_url(submission_id), 303)


@bp.get(Q + ".csv")
@mentor_required
def csv_export(slug: str, key: str):
    question = _question(slug, key)
    return Response(eq.rubric_csv(question), mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="rubric-{question.puzzle.slug}-{question.key}.csv"'})
