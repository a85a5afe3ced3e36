"""Scholar pages: the puzzle list, a puzzle, submitting an answer, job progress."""
from __future__ import annotations

import sqlalchemy as sa
from flask import (Blueprint, Response, abort, current_app, flash, jsonify, redirect, render_template,
                   request, url_for)
from flask_login import current_user, login_required

from ..access.visibility import viewer_is_mentor, visible_puzzle
from ..extensions import db
from ..models import Puzzle
from ..content.notebooks import build_notebook, notebook_bytes
from ..content.glance import ensure_revealed_scored, glances, mark_seen, week
from ..content.page import figure_views, question_views
from ..grading.truth import current_artifact
from ..access.ratelimit import hit_many
from ..grading.reveal import ensure_scored
from ..grading.submissions import Outcome, submit
from ..timeutil import utcnow

bp = Blueprint("puzzles", __name__)


@bp.get("/")
def index():
    """Every puzzle for mentors; for everyone else the published ones (released, or announced
    with their release date): an unpublished draft shows nowhere, not even its number."""
    mentor = viewer_is_mentor()
    query = sa.select(Puzzle).order_by(Puzzle.number.desc())
    if not mentor:
        query = query.where(Puzzle.published.is_(True))
    puzzles = db.session.scalars(query).all()
    now = utcnow()
    glance, summary = {}, None
    if current_user.is_authenticated:  # a scholar's home: their week at a glance
        ensure_revealed_scored(puzzles, now)
        glance = glances(current_user, puzzles, now)
        summary = week(puzzles, glance, now)
        if mark_seen(current_user, now):
            db.session.commit()
    return render_template("index.html", puzzles=puzzles, mentor=mentor, now=now, glance=glance, week=summary)


def _render(puzzle: Puzzle, errors: dict[str, str] | None = None, form: dict | None = None, status: int = 200):
    ensure_scored(puzzle)
    mentor = viewer_is_mentor()
    revealed = puzzle.is_revealed()
    user = current_user if current_user.is_authenticated else None
    return render_template(
        "puzzle.html", puzzle=puzzle, state=puzzle.state(), revealed=revealed, mentor=mentor,
        figures=figure_views(puzzle, show_truth=mentor), questions=question_views(puzzle, user, revealed),
        errors=errors or {}, form=form or {},
    ), status


@bp.get("/puzzles/<slug>")
def show(slug: str):
    return _render(visible_puzzle(slug))


@bp.post("/puzzles/<slug>/questions/<key>")
@login_required
def answer(slug: str, key: str):
    limit = int(current_app.config["SUBMISSIONS_PER_MINUTE"])
    retry = hit_many([(f"submit:user:{current_user.id}", limit)], 60)
    if retry is not None:
        db.session.commit()
        outcome = Outcome(429, f"Too many submissions: at most {limit} a minute; wait {retry} s.", None, retry)
    else:
        outcome = submit(current_user, slug, key, request.form.to_dict(), mentor=viewer_is_mentor())
    if outcome.status in (201, 202):
        flash(outcome.message, "success" if outcome.status == 201 else "info")
        return redirect(url_for("puzzles.show", slug=slug, _anchor=f"q-{key}"), 303)
    puzzle = visible_puzzle(slug)
    if outcome.status == 404:
        abort(404, outcome.message)  # no such question on the page to show it by
    resp, status = _render(puzzle, {key: outcome.message}, {key: request.form.to_dict()}, outcome.status)
    headers = {"Retry-After": str(outcome.retry_after)} if outcome.retry_after else {}
    return resp, status, headers


@bp.get("/puzzles/<slug>/progress.json")
def progress(slug: str):
    """Job progress for figures not computed yet (polled by the page); no statistics here."""
    puzzle = visible_puzzle(slug)
    show_cause = viewer_is_mentor()  # a failure's cause is the worker's text: mentors only
    out = [{"figure": view.key, "ready": view.figure is not None or view.sealed, "job": view.job_status(show_cause)}
           for view in figure_views(puzzle)]
    return jsonify({"figures": out})


@bp.get("/puzzles/<slug>/figures/<figure_key>/notebook.ipynb")
def notebook(slug: str, figure_key: str):
    """A figure's "reproduce it yourself" notebook: it holds the truth, so before the reveal
    only mentors get it; anyone else gets the same bare 404 whether the puzzle, the figure or
    its artifact exists or not."""
    mentor = viewer_is_mentor()
    puzzle = db.session.scalar(sa.select(Puzzle).where(Puzzle.slug == slug))
    if puzzle is None or not (mentor or puzzle.is_revealed()):
        abort(404)
    fig = next((f for f in puzzle.figures if f.key == figure_key), None)
    view = next((v for v in figure_views(puzzle, show_truth=True) if v.key == figure_key), None)
    artifact = current_artifact(puzzle.id, figure_key) if fig is not None else None
    if fig is None or view is None or artifact is None:
        abort(404)
    nb = build_notebook(puzzle_title=f"{puzzle.number}. {puzzle.title}", figure_title=fig.title,
                        recipe=fig.recipe, params=dict(fig.params or {}),
                        statistics=dict(artifact.statistics or {}), provenance=dict(view.provenance or {}))
    name = f"{puzzle.slug}-{fig.key}.ipynb"
    return Response(notebook_bytes(nb), mimetype="application/x-ipynb+json",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})
