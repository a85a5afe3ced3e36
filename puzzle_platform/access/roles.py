"""Who is asking: Flask-Login session users, role checks for routes."""
from __future__ import annotations

from functools import wraps

from flask import abort
from flask_login import current_user

from ..extensions import db, login_manager
from ..models import User


@login_manager.user_loader
def _load_user(user_id: str) -> User | None:
    return db.session.get(User, int(user_id)) if user_id.isdigit() else None


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
