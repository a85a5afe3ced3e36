"""Discussion threads, one per puzzle.

Routes and roles:
  GET  /puzzles/<slug>/discussion                       logged in, past the gate (see discussion.py)
  POST /puzzles/<slug>/discussion                       the same: add a post (rate limited)
  POST /puzzles/<slug>/discussion/posts/<id>/hide       mentors: hide with a reason
  POST /puzzles/<slug>/discussion/posts/<id>/unhide     mentors
Anonymous: 401. A puzzle the viewer may not see: 404 (visible_puzzle).
"""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from ..community import discussion as service
from ..access.visibility import visible_puzzle
from ..access.roles import mentor_required
from ..models import Puzzle

bp = Blueprint("discussion", __name__, url_prefix=None)


def _fail(exc: service.DiscussionError):
    abort(exc.status, exc.message)


def _open_puzzle(slug: str) -> Puzzle:
    puzzle = visible_puzzle(slug)
    try:
        service.check_access(current_user, puzzle)
    except service.DiscussionError as exc:
        _fail(exc)
    return puzzle


def _render(puzzle: Puzzle, error: str | None = None, draft: str = "", status: int = 200,
            headers: dict | None = None):
    return render_template(
        "discussion/thread.html", puzzle=puzzle, posts=service.thread(puzzle), error=error,
        draft=draft, mentor=current_user.is_mentor, max_chars=service.MAX_POST_CHARS,
    ), status, headers or {}


@bp.get("/puzzles/<slug>/discussion")
@login_required
def thread(slug: str):
    return _render(_open_puzzle(slug))


@bp.post("/puzzles/<slug>/discussion")
@login_required
def post(slug: str):
    puzzle = _open_puzzle(slug)
    body = request.form.get("body", "")
    try:
        created = service.add_post(current_user, puzzle, body)
    except service.DiscussionError as exc:
        if exc.status not in (400, 429):
            _fail(exc)  # never re-render the thread for someone the gate refused
        headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else None
        return _render(puzzle, exc.message, body[:service.MAX_POST_CHARS + 1000], exc.status, headers)
    return redirect(url_for("discussion.thread", slug=slug, _anchor=f"post-{created.id}"), 303)


@bp.post("/puzzles/<slug>/discussion/posts/<int:post_id>/hide")
@mentor_required
def hide(slug: str, post_id: int):
    puzzle = visible_puzzle(slug)
    try:
        service.hide(service.get_post(puzzle, post_id), current_user, request.form.get("reason"))
    except service.DiscussionError as exc:
        _fail(exc)
    flash("Post hidden.", "success")
    return redirect(url_for("discussion.thread", slug=slug, _anchor=f"post-{post_id}"), 303)


@bp.post("/puzzles/<slug>/discussion/posts/<int:post_id>/unhide")
@mentor_required
def unhide(slug: str, post_id: int):
    puzzle = visible_puzzle(slug)
    try:
        service.unhide(service.get_post(puzzle, post_id))
    except service.DiscussionError as exc:
        _fail(exc)
    flash("Post shown again.", "success")
    return redirect(url_for("discussion.thread", slug=slug, _anchor=f"post-{post_id}"), 303)
