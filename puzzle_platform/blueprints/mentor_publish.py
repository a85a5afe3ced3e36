"""Mentor area, publishing side: compute, publish (with a confirmation and checks), unpublish,
duplicate (as next week), delete a draft. Registered on the mentor blueprint itself, so the
endpoints stay mentor.publish, mentor.duplicate, ...; mentor_required on every route.
"""
from __future__ import annotations

from pathlib import Path

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from markupsafe import Markup

from ..access.roles import mentor_required
from ..access.visibility import visible_puzzle
from ..content.authoring import AuthoringError, PuzzleGone, duplicate_puzzle, set_published
from ..content.publishing import PublishRefused, delete_draft, publish_check, publish_puzzle
from ..jobs.queue import enqueue_missing, enqueue_puzzle
from ..models import Puzzle
from ..templating import time_tag
from .mentor import _flash_model_warnings, _overview, bp


def queued_message(puzzle: Puzzle) -> str:
    """Queue the figures a save changed or added; the sentence that says which ones."""
    jobs = enqueue_missing(puzzle)
    if not jobs:
        return ""
    return f" Queued the computation of figure(s) {', '.join(j.figure_key for j in jobs)}."


@bp.post("/puzzles/<slug>/compute")
@mentor_required
def compute(slug: str):
    puzzle = visible_puzzle(slug, mentor=True)
    if not puzzle.figures:
        return _overview(puzzle, "This puzzle has no figures to compute (its truths are literals).", 400)
    jobs = enqueue_puzzle(puzzle)
    flash(f"Computing {len(jobs)} figure(s): job(s) {', '.join(str(j.id) for j in jobs)}.", "success")
    return redirect(url_for("mentor.puzzle", slug=slug), 303)


def _confirmation(puzzle: Puzzle, error: str | None = None, status: int = 200):
    figures, questions = publish_check(puzzle)
    return render_template("mentor/publish.html", puzzle=puzzle, figures=figures, questions=questions,
                           ready=all(f.ready for f in [*figures, *questions]), error=error), status


@bp.post("/puzzles/<slug>/publish")
@mentor_required
def publish(slug: str):
    """Without confirm=1: the confirmation page with every figure's and question's state.
    With it: published if every figure is computed, or with override=1; else 409."""
    puzzle = visible_puzzle(slug, mentor=True)
    if request.form.get("confirm") != "1":
        return _confirmation(puzzle)
    try:
        publish_puzzle(puzzle, override=request.form.get("override") == "1")
    except PuzzleGone as exc:
        abort(409, f"Not published: {exc}.")
    except PublishRefused as exc:
        return _confirmation(puzzle, str(exc), 409)
    # Markup (kept through the session cookie): the time shows in the viewer's zone like any other.
    flash(Markup("Published: scholars see it from {} (now {}).").format(time_tag(puzzle.release_at), puzzle.state()),
          "success")
    return redirect(url_for("mentor.puzzle", slug=slug), 303)


@bp.post("/puzzles/<slug>/unpublish")
@mentor_required
def unpublish(slug: str):
    puzzle = visible_puzzle(slug, mentor=True)
    try:
        set_published(puzzle, False)
    except PuzzleGone as exc:
        abort(409, f"Not unpublished: {exc}.")
    flash("Unpublished: scholars see it as upcoming until you publish it again.", "success")
    return redirect(url_for("mentor.puzzle", slug=slug), 303)


@bp.post("/puzzles/<slug>/duplicate")
@mentor_required
def duplicate(slug: str):
    puzzle = visible_puzzle(slug, mentor=True)
    shift = request.form.get("shift_days", "0")
    try:
        copy = duplicate_puzzle(puzzle, request.form.get("number", ""), request.form.get("slug", ""),
                                current_user, shift)
    except AuthoringError as exc:
        return _overview(puzzle, f"Not duplicated: {exc}", 400)
    moved = f", dates moved by {int(shift)} day(s)" if shift.strip() not in ("", "0") else ""
    flash(f"Duplicated as puzzle {copy.number} ({copy.slug}), unpublished{moved}." + queued_message(copy),
          "success")
    _flash_model_warnings(copy)
    return redirect(url_for("mentor.puzzle", slug=copy.slug), 303)


@bp.post("/puzzles/<slug>/delete")
@mentor_required
def delete(slug: str):
    """Delete an unanswered draft; the mentor types its slug to confirm."""
    puzzle = visible_puzzle(slug, mentor=True)
    number = puzzle.number
    try:
        delete_draft(puzzle, request.form.get("confirm_slug", ""), Path(current_app.config["PUZZLES_DIR"]))
    except PuzzleGone as exc:
        abort(409, f"Not deleted: {exc}.")
    except PublishRefused as exc:
        return _overview(visible_puzzle(slug, mentor=True), str(exc), 409)
    except AuthoringError as exc:
        return _overview(puzzle, str(exc), 400)
    flash(f"Deleted puzzle {number} ({slug}) with its figures, questions and jobs.", "success")
    return redirect(url_for("mentor.index"), 303)
