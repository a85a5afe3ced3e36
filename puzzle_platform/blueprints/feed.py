"""An Atom feed of released puzzles, so scholars learn of a new one without polling."""
from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, Response, render_template

from ..extensions import db
from ..models import Puzzle
from ..timeutil import utcnow

bp = Blueprint("feed", __name__)


@bp.get("/feed.atom")
def atom():
    now = utcnow()
    puzzles = [p for p in db.session.scalars(sa.select(Puzzle).order_by(Puzzle.release_at.desc()))
               if p.is_released(now)]
    updated = max((p.release_at for p in puzzles), default=now)
    body = render_template("feed.atom", puzzles=puzzles, updated=updated)
    return Response(body, mimetype="application/atom+xml")
