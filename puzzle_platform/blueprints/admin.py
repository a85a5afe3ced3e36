"""The admin page: users and their roles, site-wide settings, the extra model allow-list.

Admins only (admin_required on every route: anonymous 401, scholars and mentors 403). The
rules live in puzzle_platform.access.admin (shared with `manage.py users set-role`) and
grading.leaderboard.set_public (shared with the leaderboard page's button); these views
only translate HTTP to them.
"""
from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from ..access import admin as service
from ..access.roles import admin_required
from ..extensions import db
from ..grading.leaderboard import is_public, set_public
from ..models import User
from ..models.user import ROLES

bp = Blueprint("admin", __name__, url_prefix="/admin")
PAGE_SIZE = 50


def _users(query: str, page: int) -> tuple[list[User], int]:
    """One page of users whose username contains `query` (any case), newest first; and the count."""
    where = sa.true()
    if query:
        where = sa.func.lower(User.username).contains(query.lower(), autoescape=True)
    total = db.session.scalar(sa.select(sa.func.count()).select_from(User).where(where)) or 0
    rows = db.session.scalars(sa.select(User).where(where).order_by(User.created_at.desc(), User.id.desc())
                              .offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)).all()
    return list(rows), total


def _page(status: int = 200, error: str | None = None, models_text: str | None = None):
    query = (request.args.get("q") or "").strip()[:32]
    page = min(max(1, request.args.get("page", 1, type=int)), 10**6)  # OFFSET stays a small number
    users, total = _users(query, page)
    extra = service.extra_models()
    return render_template(
        "admin/index.html", users=users, total=total, query=query, page=page,
        pages=max(1, -(-total // PAGE_SIZE)), roles=ROLES, public=is_public(), extra=extra,
        models_text="\n".join(extra) if models_text is None else models_text,
        max_models=service.MAX_EXTRA_MODELS, configured_models=service.configured_model_count(),
        error=error), status


@bp.get("")
@admin_required
def index():
    return _page()


@bp.post("/users/<int:user_id>/role")
@admin_required
def set_role(user_id: int):
    user = db.session.get(User, user_id)
    if user is None:
        abort(404, "No such user.")
    try:
        old = service.change_role(user, request.form.get("role", ""), current_user)
    except service.AdminError as exc:
        return _page(exc.status, f"Role not changed: {exc}")
    if old == user.role:
        flash(f"{user.username} is already a {user.role}.", "info")
    else:
        flash(f"{user.username} is now a {user.role} (was a {old}).", "success")
    return redirect(url_for("admin.index"), 303)


@bp.post("/settings")
@admin_required
def settings():
    value = request.form.get("public")
    if value not in ("0", "1"):
        return _page(400, "Settings not changed: choose whether the leaderboard is public or private.")
    set_public(value == "1")
    flash(f"The site leaderboard is now {'public' if value == '1' else 'private (logged-in users only)'}.",
          "success")
    return redirect(url_for("admin.index"), 303)


@bp.post("/models")
@admin_required
def models():
    text = request.form.get("models")
    if text is None:
        return _page(400, "Model list not changed: the form sent no list.")
    try:
        names = service.parse_model_names(text)
    except service.AdminError as exc:
        return _page(exc.status, f"Model list not changed: {exc}", models_text=text)
    service.set_extra_models(names)
    flash(f"Extra allowed models: {len(names)}.", "success")
    return redirect(url_for("admin.index"), 303)
