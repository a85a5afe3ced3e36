"""Who is asking: Flask-Login session users, role checks for routes.

Roles are ordered scholar < mentor < admin: a route for mentors admits admins, a route for
admins admits nobody else. Anonymous visitors get 401 everywhere a role is required.
"""
from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from flask import abort
from flask_login import current_user

from ..extensions import login_manager
from ..models import User
from .sessions import load_user


@login_manager.user_loader
def _load_user(user_id: str) -> User | None:
    """The cookie's user id counts only with a live server-side session (access/sessions.py),
    so a cookie saved before logout, a forged one or Flask-Login's remember cookie opens nothing."""
    return load_user(user_id)


@login_manager.unauthorized_handler
def _unauthorized():
    abort(401, "Log in first.")


def _require(view: Callable, allowed: Callable[[User], bool], refusal: str) -> Callable:
    """Wrap `view`: anonymous 401, a user for whom `allowed` is false 403 with `refusal`."""
    @wraps(view)
    def wrapped(*args, **kwargs):
        if not current_user.is_authenticated:
            abort(401, "Log in first.")
        if not allowed(current_user):
            abort(403, refusal)
        return view(*args, **kwargs)
    return wrapped


def mentor_required(view: Callable) -> Callable:
    """Only mentors and admins; anonymous users get 401, scholars 403."""
    return _require(view, lambda user: user.is_mentor, "Mentors only.")


def admin_required(view: Callable) -> Callable:
    """Only admins; anonymous users get 401, scholars and mentors 403."""
    return _require(view, lambda user: user.is_admin, "Admins only.")
