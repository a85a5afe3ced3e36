"""Scholars' side of explanations: the live Markdown preview and the "helpful" button.

Routes:
  POST /preview                                         the editor's live preview: the sanitised
                                                        HTML of at most MAX_EXPLANATION characters
                                                        (any logged-in user; rate-limited)
  POST /puzzles/<slug>/questions/<key>/featured/<id>/helpful
                                                        one "helpful" per user on a featured
                                                        explanation, after the reveal only (before:
                                                        404, as if none were featured)
"""
from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, jsonify, redirect, request, url_for
from flask_login import current_user, login_required

from ..access.ratelimit import hit_many
from ..access.visibility import visible_puzzle
from ..content.explanations import MAX_EXPLANATION, react
from ..extensions import db
from ..markdown import render_markdown

bp = Blueprint("explanations", __name__)

PREVIEWS_PER_MINUTE = 60  # the page sends one per pause in typing


@bp.post("/preview")
@login_required
def preview():
    """The same sanitising renderer the page uses, so the preview is what will be shown."""
    retry = hit_many([(f"preview:user:{current_user.id}", PREVIEWS_PER_MINUTE)], 60, commit=True)
    if retry is not None:
        return jsonify({"error": {"status": 429, "message": f"Too many previews: wait {retry} s."}}), 429, \
            {"Retry-After": str(retry)}
    data = request.get_json(silent=True) if request.is_json else request.form
    text = data.get("markdown", "") if hasattr(data, "get") else None
    if not isinstance(text, str):
        abort(400, "markdown must be a string")
    if len(text) > MAX_EXPLANATION:
        abort(400, f"longer than {MAX_EXPLANATION} characters")
    return jsonify({"html": str(render_markdown(text))})


@bp.post("/puzzles/<slug>/questions/<key>/featured/<int:grade_id>/helpful")
@login_required
def helpful(slug: str, key: str, grade_id: int):
    puzzle = visible_puzzle(slug)
    question = next((q for q in puzzle.questions if q.key == key and q.kind == "explanation"), None)
    if question is None or not puzzle.is_revealed():
        abort(404, "No such featured explanation.")
    limit = int(current_app.config["SUBMISSIONS_PER_MINUTE"])
    if hit_many([(f"helpful:user:{current_user.id}", limit)], 60) is not None:
        db.session.commit()
        abort(429, f"Too many reactions: at most {limit} a minute.")
    status, message = react(grade_id, question, current_user._get_current_object())
    if status == 404:
        abort(404, message)
    if status == 403:
        abort(403, message)
    flash(message, "success" if status == 201 else "info")
    return redirect(url_for("puzzles.show", slug=slug, _anchor=f"featured-{grade_id}"), 303)
