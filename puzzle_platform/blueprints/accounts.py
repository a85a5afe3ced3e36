"""Register, log in, log out."""
from __future__ import annotations

from functools import cache
from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from werkzeug.security import check_password_hash, generate_password_hash

from ..access.accounts import create_account
from ..access.forms import LoginForm, RegisterForm
from ..access.login_throttle import (login_succeeded, open_gate, registration_wait, remember_device,
                                     throttled_message)
from ..access.sessions import end_current, log_in
from ..errors import error_response

bp = Blueprint("accounts", __name__)


def _safe_next(target: str | None) -> str:
    """Only same-site relative paths after login: no open redirect (`//host`, `/\\host`,
    control characters that browsers strip), else the puzzle list."""
    if (target and target.startswith("/") and not target.startswith("//") and "\\" not in target
            and target.isprintable() and not urlsplit(target).netloc):
        return target
    return url_for("puzzles.index")


@bp.route("/register", methods=["GET", "POST"])
def register():
    if current_user.is_authenticated:  # no silent switch to a second account
        flash("You are already logged in; log out first to register another account.", "info")
        return redirect(url_for("puzzles.index"))
    form = RegisterForm()
    if form.validate_on_submit():
        wait = registration_wait()  # per client address: no account farms, slow email probing
        if wait is not None:
            return error_response(429, f"Too many registrations from your address; try again in "
                                       f"{-(-wait // 60)} minutes.", {"Retry-After": str(wait)})
        user = create_account(form.username.data, form.email.data, form.password.data,
                              display_name=form.display_name.data)
        if user is None:
            # One answer whichever of the two is taken (see README, Security).
            form.username.errors.append("That username or email cannot be used; choose others.")
        else:
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
        gate = open_gate(form.username.data)  # counted and committed before the password check
        if gate.wait is not None:
            return error_response(429, throttled_message(gate.wait), {"Retry-After": str(gate.wait)})
        user = gate.user
        if user is not None and user.check_password(form.password.data):
            login_succeeded(gate)
            log_in(user)  # commits
            return remember_device(redirect(_safe_next(request.args.get("next"))), user)
        if user is None:  # hash anyway, so the response time does not tell that no such user exists
            check_password_hash(_dummy_hash(), form.password.data)
        form.password.errors.append("Wrong username or password.")
    status = 400 if request.method == "POST" else 200
    return render_template("auth/login.html", form=form), status


@bp.post("/logout")
@login_required
def logout():
    end_current()  # the cookie's server-side session is revoked: a saved copy opens nothing
    flash("You are logged out.", "info")
    return redirect(url_for("puzzles.index"))
