"""REST API /api/v1: JSON for notebooks and scripts, bearer tokens only (see api_auth).

Every rule is the web's own: visibility is access.visible_puzzle, what a viewer may see of a
puzzle is puzzle_page, an attempt goes through submissions.submit, and leaderboard scopes
through leaderboard.board_scope. Before the reveal no response carries a truth value or the
answer text to a scholar. The contract is the OpenAPI document at /api/v1/openapi.json.
"""
from __future__ import annotations

import json

import sqlalchemy as sa
from flask import Blueprint, g, jsonify, request

from .. import openapi
from ..access.visibility import visible_puzzle
from ..access.tokens import api_abort, authenticate, count_request
from ..extensions import csrf, db
from ..grading.leaderboard import board_json, board_scope
from ..models import Puzzle, Question, Submission, User
from ..content.explanations import (MAX_EXPLANATION, explanation_view, featured_json, grading_json,
                                    version_json)
from ..content.page import figure_views, question_views
from ..grading.reveal import ensure_scored, score_due
from ..grading.submissions import submit
from ..timeutil import iso

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)  # no cookies are read here: a browser cannot forge a bearer token

PUBLIC_ENDPOINTS = {"api.openapi_document"}
BODY_HINT = 'body must be a JSON object, e.g. {"value": 0.9, "lower": 0.8, "upper": 0.95}.'


@bp.before_request
def _authenticate() -> None:
    if request.endpoint in PUBLIC_ENDPOINTS:
        return
    authenticate()
    count_request(submission=request.endpoint == "api.create_submission")


@bp.after_request
def _no_store(response):
    """Answers are per user (attempts left, own submissions): never cache them."""
    response.headers.setdefault("Cache-Control", "no-store")
    return response


# --- serialisation ---------------------------------------------------------------------

def _puzzle_summary(puzzle: Puzzle) -> dict:
    return {"slug": puzzle.slug, "number": puzzle.number, "title": puzzle.title,
            "summary": puzzle.summary, "state": puzzle.state(), "release_at": iso(puzzle.release_at),
            "deadline_at": iso(puzzle.deadline_at), "reveal_at": iso(puzzle.reveal_at)}


def _puzzle_detail(puzzle: Puzzle, user: User) -> dict:
    """The puzzle page as data; truth and answer only once revealed (or for mentors)."""
    ensure_scored(puzzle)
    show_truth = puzzle.is_revealed() or user.is_mentor
    figures = []
    for f in figure_views(puzzle, show_truth=user.is_mentor):
        job = f.job_status(user.is_mentor)  # stages of retries quote the worker's error
        figures.append({
            "key": f.key, "title": f.title, "figure": f.figure, "provenance": f.provenance,
            "sealed_until_reveal": f.sealed,
            "version": f.artifact_version, "computed_at": iso(f.computed_at),
            "job": None if job is None else {k: job[k] for k in ("status", "progress", "stage")},
        })
    questions = []
    for view in question_views(puzzle, user, show_truth):
        q = view.question
        item = {"key": q.key, "prompt_md": q.prompt_md, "kind": q.kind, "mode": q.mode,
                "choices": q.choices, "unit": q.unit, "points": q.points, "word_budget": q.word_budget,
                "max_attempts": q.max_attempts, "attempts_left": view.attempts_left,
                "solved": view.solved, "wait_until": iso(view.wait_until),
                "current_prediction": view.current.payload if view.current else None}
        if show_truth:
            item["truth"] = view.truth
        questions.append(item)
    body = {**_puzzle_summary(puzzle), "statement_md": puzzle.statement_md,
            "revealed": puzzle.is_revealed(), "figures": figures, "questions": questions}
    if show_truth:
        body["answer_md"] = puzzle.answer_md
    return body


def _submission(sub: Submission, puzzle_slug: str | None, question_key: str | None) -> dict:
    return {"id": sub.id, "puzzle": puzzle_slug, "question": question_key, "status": sub.status,
            "attempt_no": sub.attempt_no, "score": sub.score, "points": sub.points,
            "correct": sub.correct, "feedback": sub.feedback, "payload": sub.payload,
            "source": sub.source, "created_at": iso(sub.created_at), "graded_at": iso(sub.graded_at)}


def _json_object() -> dict:
    """The request body as a JSON object, or 400.

    NaN and Infinity are not JSON, but Python's parser accepts them: they are kept as the
    strings they were, so that the answer validation refuses them (and logs the attempt) like
    any other non-finite number.
    """
    try:
        data = json.loads(request.get_data(cache=False), parse_constant=lambda name: name)
    except (ValueError, RecursionError):
        data = None
    if not isinstance(data, dict):
        db.session.commit()  # the request still counts against the limits
        api_abort(400, f"The request {BODY_HINT}")
    return data


# --- routes ----------------------------------------------------------------------------

@bp.get("/openapi.json")
def openapi_document():
    """The API's contract (public: it holds no data)."""
    return jsonify(openapi.document())


@bp.get("/me")
def me():
    user: User = g.api_user
    return jsonify({"username": user.username, "display_name": user.display_name, "role": user.role})


@bp.get("/puzzles")
def puzzles():
    """Released puzzles in order; mentors and admins also see upcoming ones."""
    rows = db.session.scalars(sa.select(Puzzle).order_by(Puzzle.number)).all()
    mentor = g.api_user.is_mentor
    return jsonify({"puzzles": [_puzzle_summary(p) for p in rows if mentor or p.is_released()]})


@bp.get("/puzzles/<slug>")
def puzzle(slug: str):
    user: User = g.api_user
    return jsonify(_puzzle_detail(visible_puzzle(slug, mentor=user.is_mentor), user))


@bp.post("/puzzles/<slug>/questions/<key>/submissions")
def create_submission(slug: str, key: str):
    """One attempt through submissions.submit: 201 graded, 202 pending, else the refusal."""
    user: User = g.api_user
    data = _json_object()
    outcome = submit(user, slug, key, data, source="api", mentor=user.is_mentor)
    if outcome.status in (201, 202):
        return jsonify(_submission(outcome.submission, slug, key)), outcome.status
    headers = {"Retry-After": str(outcome.retry_after)} if outcome.retry_after else None
    api_abort(outcome.status, outcome.message, headers)


@bp.get("/puzzles/<slug>/questions/<key>/explanation")
def my_explanation(slug: str, key: str):
    """The caller's versions of an explanation, oldest first; after the reveal also the
    grading of the counted version and the featured explanations. Before the reveal the
    body has no grading field at all (grading happens after the deadline, shown at the reveal)."""
    user: User = g.api_user
    puzzle = visible_puzzle(slug, mentor=user.is_mentor)
    ensure_scored(puzzle)
    question = next((q for q in puzzle.questions if q.key == key), None)
    if question is None or question.kind != "explanation":
        api_abort(404, f"Puzzle {slug!r} has no explanation question {key!r}.")
    revealed = puzzle.is_revealed()
    view = explanation_view(question, user, revealed)
    body = {"puzzle": puzzle.slug, "question": question.key, "word_budget": question.word_budget,
            "max_chars": MAX_EXPLANATION, "deadline_at": iso(puzzle.deadline_at), "revealed": revealed,
            "versions": [version_json(s) for s in reversed(view.versions)]}
    if revealed:
        body["grading"] = grading_json(view.grading) if view.grading else None
        body["featured"] = [featured_json(f) for f in view.featured]
    return jsonify(body)


@bp.get("/me/submissions")
def my_submissions():
    """The caller's own attempts (every status), oldest first; ?puzzle=SLUG narrows them."""
    user: User = g.api_user
    score_due()
    stmt = (sa.select(Submission, Puzzle.slug, Question.key)
            .outerjoin(Puzzle, Puzzle.id == Submission.puzzle_id)
            .outerjoin(Question, Question.id == Submission.question_id)
            .where(Submission.user_id == user.id).order_by(Submission.id))
    if slug := request.args.get("puzzle"):
        stmt = stmt.where(Submission.puzzle_id == visible_puzzle(slug, mentor=user.is_mentor).id)
    return jsonify({"submissions": [_submission(sub, p, q) for sub, p, q in db.session.execute(stmt)]})


@bp.get("/leaderboard")
def leaderboard():
    """The same boards and permission rule as /leaderboard.json."""
    return jsonify(board_json(*board_scope(g.api_user, request.args.get("puzzle"),
                                           request.args.get("cohort"))))
