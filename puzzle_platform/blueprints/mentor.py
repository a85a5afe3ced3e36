"""Mentor area: the dashboard, authoring puzzles, the overview, previewing, export (computing,
publishing, duplicating and deleting live in mentor_publish.py, on this same blueprint).

Mentors and admins only (mentor_required on every route: anonymous 401, scholars 403), but
exporting writes into the server's puzzles folder, so it is for admins only. The services
live in puzzle_platform.content.authoring; these views only translate HTTP to them.
"""
from __future__ import annotations

import re
from pathlib import Path

import sqlalchemy as sa
from flask import (Blueprint, abort, current_app, flash, jsonify, redirect, render_template,
                   request, url_for)
from flask_login import current_user

from ..access.visibility import visible_puzzle
from ..access.roles import admin_required, mentor_required
from ..content.authoring import (AuthoringError, PuzzleForm, create_puzzle, export_puzzle, timezones,
                                 update_puzzle)
from ..content.publishing import next_week
from ..content.scales import statistic_definition, suggest
from ..extensions import db
from ..grading.truth import current_artifact, resolve_truth
from ..markdown import MAX_MARKDOWN_CHARS, render_markdown
from ..models import Job, Puzzle, Submission
from ..content.authoring_fields import KINDS, MODES, field_views, recipe_choices, settle
from ..content.authoring_form import (FormError, Rows, apply_op, rows_from_request, rows_from_toml,
                                      table_from_rows)
from ..content.files import DEFAULT_ATTEMPTS
from ..content.model_check import model_warnings
from ..content.page import figure_views, question_views
from ..content.writer import dump_toml
from ..grading.explanations import DEFAULT_VERSIONS
from ..jobs.worker_models import ModelReport, reported_models

bp = Blueprint("mentor", __name__, url_prefix="/mentor")


@bp.get("")
@mentor_required
def index():
    """Every puzzle in any state, where it came from, and the recent jobs."""
    puzzles = db.session.scalars(sa.select(Puzzle).order_by(Puzzle.number.desc())).all()
    counts = dict(db.session.execute(
        sa.select(Submission.puzzle_id, sa.func.count()).group_by(Submission.puzzle_id)).all())
    jobs = db.session.execute(
        sa.select(Job, Puzzle.slug).outerjoin(Puzzle, Puzzle.id == Job.puzzle_id)
        .order_by(Job.id.desc()).limit(50)).all()
    return render_template("mentor/index.html", puzzles=puzzles, counts=counts, jobs=jobs)


def _model_line(report: ModelReport) -> str:
    if not report.workers:
        return "No worker has reported its models yet: any allowed name or models:<folder> is accepted."
    where = "and may download allowed hub models" if report.can_download else "and may not download from the hub"
    return (f"{report.workers} worker(s) reported {len(report.names)} model(s) they hold (offered in this "
            f"field) {where}.")


def _editor(form: PuzzleForm, rows: Rows | None, puzzle: Puzzle | None, error: str | None = None,
            status: int = 200, fresh: bool = False, notice: str | None = None):
    """The authoring form: figures and questions as fields (rows), or as TOML (rows None)."""
    figures, questions = field_views(rows) if rows is not None else ([], [])
    models = reported_models()
    return render_template(
        "mentor/edit.html", form=form, puzzle=puzzle, error=error, zones=timezones(), fresh=fresh,
        rows=rows, figure_views=figures, question_views=questions, figure_count=len(figures),
        question_count=len(questions), any_patterns=any(f.patterns for f in figures),
        recipes=recipe_choices(), kinds=KINDS, modes=MODES, attempts=DEFAULT_ATTEMPTS,
        versions=DEFAULT_VERSIONS, models=models, model_line=_model_line(models), notice=notice,
        max_markdown=MAX_MARKDOWN_CHARS), status


def _form_view(form: PuzzleForm, puzzle: Puzzle | None, fresh: bool = False):
    """The editor opened on a saved (or new) form: as fields, unless its TOML cannot be shown so."""
    try:
        rows = rows_from_toml(form.spec_toml)
    except FormError:
        rows = None
    return _editor(form, rows, puzzle, fresh=fresh)


def _posted(puzzle: Puzzle | None):
    """Read the posted editor. Returns (form, rows, None) for Save, or (.., .., response) for a
    button that only changes the form (add, remove, move, switch views): nothing is saved."""
    form = PuzzleForm.from_request(request.form)
    op = request.form.get("op", "save")
    try:
        rows = rows_from_request(request.form) if request.form.get("view") == "form" else None
    except FormError as exc:
        return form, None, _editor(form, None, puzzle, str(exc), 400)
    if rows is not None:
        form.spec_toml = dump_toml(table_from_rows(rows))
    if op == "save":
        return form, rows, None
    notice = f"Not saved yet: press {'Save' if puzzle else 'Create'} to keep your changes."
    if op == "view-toml" or (rows is None and op == "refresh"):
        # Enter in a field of the TOML view presses the hidden "refresh": stay in that view, the
        # TOML exactly as typed (comments and layout included)
        return form, rows, _editor(form, None, puzzle, notice=notice)
    if rows is None:
        try:
            rows = rows_from_toml(form.spec_toml)
        except FormError as exc:
            return form, rows, _editor(form, None, puzzle, str(exc), 400)
    apply_op(rows, op)  # "refresh" and "view-form" change nothing
    settle(rows)
    return form, rows, _editor(form, rows, puzzle, notice=notice)


NEW_QUESTIONS = '''[[figures]]
key = "fig"
title = "What the worker computes"
recipe = "embedding_cosine"
params = { model = "gpt2-small" }

[[questions]]
key = "mean"
prompt = "What is the mean pairwise cosine similarity?"
kind = "numeric"
mode = "forecast"
grader = "interval"
grader_params = { scale = 0.5 }
statistic = "fig.mean_cos"
points = 10
'''


@bp.route("/puzzles/new", methods=["GET", "POST"])
@mentor_required
def new():
    if request.method == "GET":
        number = (db.session.scalar(sa.select(sa.func.max(Puzzle.number))) or 0) + 1
        return _form_view(PuzzleForm(number=str(number), spec_toml=NEW_QUESTIONS), None, fresh=True)
    form, rows, response = _posted(None)
    if response is not None:
        return response
    try:
        puzzle = create_puzzle(form, current_user, from_fields=rows is not None)
    except AuthoringError as exc:
        return _editor(form, rows, None, str(exc), 400)
    flash(f"Created puzzle {puzzle.number} ({puzzle.slug}), unpublished: scholars see it only "
          "once you publish it." + queued_message(puzzle), "success")
    _flash_model_warnings(puzzle)
    return redirect(url_for("mentor.puzzle", slug=puzzle.slug), 303)


@bp.route("/puzzles/<slug>/edit", methods=["GET", "POST"])
@mentor_required
def edit(slug: str):
    puzzle = visible_puzzle(slug, mentor=True)
    if request.method == "GET":
        return _form_view(PuzzleForm.from_puzzle(puzzle), puzzle, fresh=True)
    form, rows, response = _posted(puzzle)
    if response is not None:
        return response
    try:
        lines = update_puzzle(puzzle, form, from_fields=rows is not None)
    except AuthoringError as exc:
        return _editor(form, rows, puzzle, str(exc), 400)
    queued = queued_message(visible_puzzle(slug, mentor=True))
    flash("Saved: " + _changes(lines) + "." + queued, "success")
    _flash_model_warnings(puzzle)
    return redirect(url_for("mentor.puzzle", slug=slug), 303)


_CHANGE_WORDS = {"+": "added", "~": "changed", "-": "removed"}


def _changes(lines: list[str]) -> str:
    """The sync's report lines ("~ 01-slug: updated title", "  ~ question q1: prompt") in words."""
    words = []
    for line in (line.strip() for line in lines):
        mark, _, rest = line.partition(" ")
        if mark == "=":
            words.append("nothing changed")
        elif mark in _CHANGE_WORDS and re.match(r"[0-9]+-[a-z0-9-]+: ", rest):  # "01-slug: updated title"
            what = rest.partition(": ")[2]
            if what and what != "updated questions/figures":
                words.append(what)
        elif mark in _CHANGE_WORDS:
            words.append(f"{_CHANGE_WORDS[mark]} {rest}")
        else:
            words.append(line)
    return "; ".join(words) or "nothing changed"


def _flash_model_warnings(puzzle: Puzzle) -> None:
    """What the workers' model reports say about the saved figures (content/model_check.py)."""
    db.session.refresh(puzzle)
    for warning in model_warnings(puzzle.figures):
        flash(f"Warning: {warning}.", "warning")


@bp.post("/preview")
@mentor_required
def preview_markdown():
    """Live preview for the editor: the same sanitising renderer scholars' pages use."""
    data = request.get_json(silent=True) if request.is_json else request.form
    text = data.get("markdown", "") if hasattr(data, "get") else None
    if not isinstance(text, str):
        abort(400, "markdown must be a string")
    if len(text) > MAX_MARKDOWN_CHARS:
        abort(400, f"longer than {MAX_MARKDOWN_CHARS} characters")
    return jsonify({"html": str(render_markdown(text))})


def _overview(puzzle: Puzzle, error: str | None = None, status: int = 200):
    """The mentor's view of a puzzle: figures as scholars will see them (sealed ones too),
    their statistics with definitions, truths, suggested grader scales, jobs, actions."""
    stats = {f.key: current_artifact(puzzle.id, f.key) for f in puzzle.figures}
    recipes = {f.key: f.recipe for f in puzzle.figures}
    statistics = {key: [(name, value, statistic_definition(recipes[key], name))
                        for name, value in sorted((art.statistics or {}).items())]
                  for key, art in stats.items() if art is not None}
    truths, suggestions = {}, {}
    for q in puzzle.questions:  # mentors may see the truth at any time
        truth = resolve_truth(q)
        truths[q.key] = truth.value if truth else None
        art = stats.get(q.figure_key) if q.statistic else None
        suggestions[q.key] = suggest(q, truths[q.key], art.statistics if art else None)
    counts = dict(db.session.execute(
        sa.select(Submission.question_id, sa.func.count()).where(Submission.puzzle_id == puzzle.id)
        .group_by(Submission.question_id)).all())
    jobs = db.session.scalars(sa.select(Job).where(Job.puzzle_id == puzzle.id)
                              .order_by(Job.id.desc()).limit(20)).all()
    number, slug = next_week(puzzle)
    return render_template("mentor/puzzle.html", puzzle=puzzle, state=puzzle.state(), truths=truths,
                           counts=counts, jobs=jobs, figures=figure_views(puzzle, show_truth=True),
                           artifacts=stats, statistics=statistics, suggestions=suggestions,
                           next_number=number, next_slug=slug, error=error), status


@bp.get("/puzzles/<slug>")
@mentor_required
def puzzle(slug: str):
    return _overview(visible_puzzle(slug, mentor=True))


@bp.get("/puzzles/<slug>/preview")
@mentor_required
def preview(slug: str):
    """The scholar's page as it will look once live: no answer, no truth, no attempts."""
    puzzle = visible_puzzle(slug, mentor=True)
    questions = question_views(puzzle, None, False)
    for view in questions:  # a scholar who has not answered yet
        view.attempts_left = view.question.max_attempts
    flash("Preview: this is what a scholar sees while the puzzle is live (submitting is off here).", "info")
    return render_template(
        "puzzle.html", puzzle=puzzle, state="live", revealed=False, mentor=False, preview=True,
        figures=figure_views(puzzle), questions=questions, errors={}, form={})


@bp.post("/puzzles/<slug>/export")
@admin_required
def export(slug: str):
    puzzle = visible_puzzle(slug, mentor=True)
    try:
        folder = export_puzzle(puzzle, Path(current_app.config["PUZZLES_DIR"]))
    except AuthoringError as exc:
        return _overview(puzzle, str(exc), 409)
    except OSError as exc:  # e.g. a read-only puzzles folder: the reason, never the path
        # 503: the server's folder, not the request, is at fault; the operator can fix it
        # (DEPLOY.md: PUZZLES_DIR must be in the web unit's ReadWritePaths).
        why = exc.strerror or type(exc).__name__
        return _overview(puzzle, f"Could not write the puzzle folder ({why}); nothing was exported. "
                         "The puzzles folder must be writable by the web process: ask the "
                         "site's operator.", 503)
    flash(f"Exported to the puzzles folder as {folder.name}/; `manage.py puzzles sync` now reads it "
          "back unchanged.", "success")
    return redirect(url_for("mentor.puzzle", slug=slug), 303)


# The publishing routes (compute, publish, unpublish, duplicate, delete) register on `bp` too.
# Imported last: mentor_publish imports bp and _overview from here.
from .mentor_publish import queued_message  # noqa: E402
