"""Leaderboards as a page, JSON and (for mentors) CSV; admins set the site board public or private."""
from __future__ import annotations

import csv
import io

import sqlalchemy as sa
from flask import Blueprint, Response, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user

from ..access.visibility import viewer_is_mentor
from ..access.roles import admin_required, mentor_required
from ..extensions import db
from ..grading.overrides import _cell as spreadsheet_safe
from ..grading.leaderboard import RULES, Entry, board_json, board_scope, is_public, set_public, standings
from ..models import Cohort, Puzzle
from ..timeutil import iso

bp = Blueprint("leaderboard", __name__)
PAGE_SIZE = 100


def _scope() -> tuple[Puzzle | None, Cohort | None]:
    """Read ?puzzle=SLUG&cohort=SLUG; the permission rule itself is leaderboard.board_scope."""
    viewer = current_user if current_user.is_authenticated else None
    return board_scope(viewer, request.args.get("puzzle"), request.args.get("cohort"))


def _entries() -> tuple[Puzzle | None, Cohort | None, list[Entry]]:
    puzzle, cohort = _scope()
    return puzzle, cohort, standings(puzzle.id if puzzle else None, cohort.id if cohort else None)


@bp.get("/leaderboard")
def show():
    puzzle, cohort, entries = _entries()
    page = min(max(1, request.args.get("page", 1, type=int)), 10**6)  # OFFSET stays a small number
    start = (page - 1) * PAGE_SIZE
    mine = None
    if current_user.is_authenticated:
        mine = next((e for e in entries if e.user_id == current_user.id), None)
    puzzles = db.session.scalars(sa.select(Puzzle).order_by(Puzzle.number)).all()
    return render_template(
        "leaderboard.html", puzzle=puzzle, cohort=cohort, entries=entries[start:start + PAGE_SIZE],
        total=len(entries), page=page, pages=max(1, -(-len(entries) // PAGE_SIZE)), mine=mine,
        rules=RULES, public=is_public(), mentor=viewer_is_mentor(),
        admin=current_user.is_authenticated and current_user.is_admin,
        puzzles=[p for p in puzzles if p.is_released() or viewer_is_mentor()],
    )


@bp.get("/leaderboard.json")
def as_json():
    return jsonify(board_json(*_scope()))


@bp.get("/leaderboard.csv")
@mentor_required
def as_csv():
    puzzle, cohort, entries = _entries()
    from ..models import User
    users = {u.id: u for u in db.session.scalars(sa.select(User).where(User.id.in_([e.user_id for e in entries])))}
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["rank", "username", "display_name", "email", "points", "solved", "answered", "reached_at"])
    for e in entries:
        u = users[e.user_id]
        writer.writerow([spreadsheet_safe(x) for x in (  # display names are user text
            e.rank, u.username, e.display_name, u.email, e.points, e.solved, e.answered, iso(e.reached_at))])
    name = f"leaderboard-{puzzle.slug if puzzle else 'season'}{'-' + cohort.slug if cohort else ''}.csv"
    return Response(buf.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@bp.post("/leaderboard/visibility")
@admin_required
def set_visibility():
    value = request.form.get("public")
    if value not in ("0", "1"):
        abort(400, "Choose public (1) or private (0).")
    public = value == "1"
    set_public(public)
    flash(f"The leaderboard is now {'public' if public else 'private (logged-in users only)'}.", "success")
    return redirect(url_for("leaderboard.show"), 303)
