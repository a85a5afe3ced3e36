"""Register, log in, log out."""
from __future__ import annotations

from functools import cache

import sqlalchemy as sa
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from urllib.parse import urlsplit
from werkzeug.security import check_password_hash, generate_password_hash

from ..errors import error_response
from ..extensions import db
from ..access.forms import LoginForm, RegisterForm
from ..models import User
from ..access.login_throttle import login_blocked, record_login_failure, throttled_message
from ..access.sessions import end_current, log_in

bp = Blueprint("accounts", __name__)


def _safe_next(target: str | None) -> str:
    """Only same-site relative redirects after login (no open redirect)."""
    if target and target.startswith("/") and not target.startswith("//") and not urlsplit(target).netloc:
        return target
    return url_for("puzzles.index")


@bp.route("/register", methods=["GET", "POST"])
def register():
    if current_user.is_authenticated:  # no silent switch to a second account
        flash("You are already logged in; log out first to register another account.", "info")
        return redirect(url_for("puzzles.index"))
    form = RegisterForm()
    if form.validate_on_submit():
        username = form.username.data.strip()
        email = form.email.data.strip().lower()
        clash = db.session.scalar(sa.select(User).where(
            sa.or_(sa.func.lower(User.username) == username.lower(), User.email == email)))
        if clash is not None:
            form.username.errors.append("That username or email is already registered.")
        else:
            user = User(username=username, email=email, display_name=form.display_name.data.strip(),
                        role="scholar")
            user.set_password(form.password.data)
            db.session.add(user)
            db.session.commit()
            log_in(user)
            flash("Welcome! You are registered and logged in.", "success")
            return redirect(url_for("puzzles.index"))
    status = 400 if request.method == "POST" else 200
    return render_template("auth/register.html", form=form), status


@cache
def _dummy_hash() -> str:
    return generate_password_hash("not a password")


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    if form.validate_on_submit():
        name = form.username.data.strip()
        wait = login_blocked(name)  # before the password check: a blocked guess tells nothing
        if wait is not None:
            return error_response(429, throttled_message(wait), {"Retry-After": str(wait)})
        user = db.session.scalar(sa.select(User).where(
            sa.or_(sa.func.lower(User.username) == name.lower(), User.email == name.lower())))
        if user is not None and user.check_password(form.password.data):
            log_in(user)
            return redirect(_safe_next(request.args.get("next")))
        if user is None:  # hash anyway, so the response time does not tell that no such user exists
            check_password_hash(_dummy_hash(), form.password.data)
        record_login_failure(name)
        form.password.errors.append("Wrong username or password.")
    status = 400 if request.method == "POST" else 200
    return render_template("auth/login.html", form=form), status


@bp.post("/logout")
@login_required
def logout():
    end_current()  # the cookie's server-side session is revoked: a saved copy opens nothing
    flash("You are logged out.", "info")
    return redirect(url_for("puzzles.index"))
