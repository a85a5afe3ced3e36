"""Calibration profiles (rules and numbers in puzzle_platform/calibration.py).

Routes and roles:
  GET /calibration                   logged in: your own profile
  GET /calibration/<username>        mentors: any user's profile
  GET /cohorts/<slug>/calibration    mentors: one row per cohort member
Only revealed puzzles count, so nothing here is a truth a scholar may not see yet.
"""
from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, abort, render_template
from flask_login import current_user, login_required

from ..grading import calibration as service
from ..community import cohorts
from ..access.roles import mentor_required
from ..extensions import db
from ..models import User

bp = Blueprint("calibration", __name__, url_prefix=None)


def _render_profile(user: User, own: bool):
    records, summary = service.profile(user)
    return render_template(
        "calibration/profile.html", subject=user, own=own, records=records, summary=summary,
        coverage_fig=service.coverage_figure([user.display_name], [summary], summary.target),
        strip_fig=service.strip_figure(records))


@bp.get("/calibration")
@login_required
def mine():
    return _render_profile(current_user, own=True)


@bp.get("/calibration/<username>")
@mentor_required
def user(username: str):
    subject = db.session.scalar(sa.select(User).where(User.username == username))
    if subject is None:
        abort(404, "No such user.")
    return _render_profile(subject, own=subject.id == current_user.id)


@bp.get("/cohorts/<slug>/calibration")
@mentor_required
def cohort(slug: str):
    group = cohorts.by_slug(slug)
    if group is None:
        abort(404, "No such cohort.")
    rows = service.cohort_rows(cohorts.member_users(group))
    targets = [s.target for _, s in rows if s.n]
    target = sum(targets) / len(targets) if targets else 1.0 - service.DEFAULT_ALPHA
    return render_template(
        "calibration/cohort.html", cohort=group, rows=rows, target=target,
        coverage_fig=service.coverage_figure([u.display_name for u, _ in rows], [s for _, s in rows], target))
