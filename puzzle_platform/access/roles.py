"""Who is asking: Flask-Login session users, role checks for routes."""
from __future__ import annotations

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


def mentor_required(view):
    """Only mentors and admins; anonymous users get 401, scholars 403."""
    @wraps(view)
    def wrapped(*args, **kwargs):
        if not current_user.is_authenticated:
            abort(401, "Log in first.")
        if not current_user.is_mentor:
            abort(403, "Mentors only.")
        return view(*args, **kwargs)
    return wrapped
