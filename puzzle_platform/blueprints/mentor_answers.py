"""Mentor area: who answered a puzzle. Every scholar (or one cohort's) with their status on
each question, counts at the top, and the same as a CSV.

Mentors and admins only (mentor_required: anonymous 401, scholars 403); drafts included.
The statuses are read by puzzle_platform.grading.who_answered.
"""
from __future__ import annotations

import re

import sqlalchemy as sa
from flask import Blueprint, Response, abort, render_template, request

from ..access.roles import mentor_required
from ..access.visibility import visible_puzzle
from ..extensions import db
from ..grading.who_answered import who_answered, who_answered_csv
from ..models import Cohort

bp = Blueprint("mentor_answers", __name__, url_prefix="/mentor")


def _cohort() -> Cohort | None:
    """The ?cohort=<id> filter: none when empty, 404 when it names no cohort."""
    raw = request.args.get("cohort", "").strip()
    if not raw:
        return None
    cohort = db.session.get(Cohort, int(raw)) if re.fullmatch(r"[0-9]{1,9}", raw) else None
    if cohort is None:
        abort(404, "No such cohort.")
    return cohort


@bp.get("/puzzles/<slug>/answers")
@mentor_required
def answers(slug: str):
    puzzle = visible_puzzle(slug, mentor=True)
    cohort = _cohort()
    tallies, rows = who_answered(puzzle, cohort.id if cohort else None)
    cohorts = db.session.scalars(sa.select(Cohort).order_by(Cohort.name)).all()
    return render_template("mentor/answers.html", puzzle=puzzle, cohort=cohort, cohorts=cohorts,
                           tallies=tallies, rows=rows)


@bp.get("/puzzles/<slug>/answers.csv")
@mentor_required
def answers_csv(slug: str):
    puzzle = visible_puzzle(slug, mentor=True)
    cohort = _cohort()
    suffix = f"-{cohort.slug}" if cohort else ""
    return Response(who_answered_csv(puzzle, cohort.id if cohort else None), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="answers-{puzzle.slug}{suffix}.csv"'})
