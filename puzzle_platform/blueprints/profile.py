"""The profile page: display name, password, browser sessions and API tokens.

Routes (every one needs a login; each acts on the caller's own account only):
  GET  /profile                        the page: display name form, tokens, new-token form
  POST /profile/display-name           change the display name shown on leaderboards
  POST /profile/feature-anonymously    whether a featured explanation of yours shows your
                                       display name or "Anonymous scholar"
  POST /profile/notifications          which emails you want: a puzzle goes live, is revealed,
                                       a mentor's comment or override reaches you (all opt-in)
  POST /profile/tokens                 create a token: its plain text is on this response
                                       only (never stored, never shown again)
  POST /profile/tokens/<id>/revoke     revoke one of your tokens (someone else's id: 404)
  POST /profile/password               change your password (the current one required, wrong
                                       guesses throttled); ends every other session
  POST /profile/sessions/<id>/revoke   log out one of your sessions (someone else's id: 404)
  POST /profile/sessions/revoke-all    log out everywhere, this browser included
"""
from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import SelectChoice, SelectField, StringField
from wtforms.validators import DataRequired, Length

from ..access import sessions
from ..access.forms import PasswordForm
from ..access.login_throttle import unlock
from ..access.ratelimit import forget, hit_many
from ..access.tokens import revoke_all_tokens
from ..extensions import db
from ..models import ApiToken
from ..timeutil import utcnow

bp = Blueprint("profile", __name__, url_prefix=None)

MAX_ACTIVE_TOKENS = 20  # a bound on forgotten tokens lying around in notebooks


def _strip(value: str | None) -> str | None:
    return value.strip() if isinstance(value, str) else value


class DisplayNameForm(FlaskForm):
    display_name = StringField("Display name (shown on leaderboards)", filters=[_strip],
                               validators=[DataRequired(), Length(min=1, max=64)])


EXPIRY_CHOICES = [SelectChoice("90", "in 90 days"), SelectChoice("30", "in 30 days"),
                  SelectChoice("365", "in a year"), SelectChoice("0", "never")]


class TokenForm(FlaskForm):
    name = StringField("Token name (e.g. colab)", filters=[_strip],
                       validators=[DataRequired(), Length(min=1, max=64)])
    expires = SelectField("Expires", choices=EXPIRY_CHOICES, default="90")


def _tokens() -> list[ApiToken]:
    return list(db.session.scalars(sa.select(ApiToken).where(ApiToken.user_id == current_user.id)
                                   .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())))


def _password_form() -> PasswordForm:
    return PasswordForm([current_user.username, current_user.email])


def _page(name_form: DisplayNameForm | None = None, token_form: TokenForm | None = None,
          new_token: str | None = None, password_form: PasswordForm | None = None, status: int = 200,
          headers: dict[str, str] | None = None):
    name_form = name_form or DisplayNameForm(display_name=current_user.display_name)
    html = render_template("profile.html", name_form=name_form, token_form=token_form or TokenForm(),
                           tokens=_tokens(), new_token=new_token, password_form=password_form or _password_form(),
                           sessions=sessions.active(current_user.id), is_current=sessions.is_current,
                           notifications=NOTIFICATIONS, mail_on=bool(current_app.config.get("SMTP_HOST")))
    # The page may carry a plain token: keep it out of every cache.
    return html, status, {"Cache-Control": "no-store", **(headers or {})}


@bp.get("/profile")
@login_required
def show():
    return _page()


@bp.post("/profile/display-name")
@login_required
def update_display_name():
    form = DisplayNameForm()
    if not form.validate_on_submit():
        return _page(name_form=form, status=400)
    current_user.display_name = form.display_name.data
    db.session.commit()
    flash("Display name changed.", "success")
    return redirect(url_for("profile.show"), 303)


@bp.post("/profile/feature-anonymously")
@login_required
def update_feature_anonymously():
    """The checkbox: present and "1" means anonymous; absent (unchecked) means by name."""
    value = request.form.get("anonymous", "0")
    if value not in ("0", "1"):
        abort(400, "anonymous must be 0 or 1.")
    current_user.feature_anonymously = value == "1"
    db.session.commit()
    flash("Featured explanations of yours now show " +
          ("“Anonymous scholar”." if value == "1" else "your display name."), "success")
    return redirect(url_for("profile.show", _anchor="explanations"), 303)


NOTIFICATIONS = (("notify_live", "a puzzle goes live"), ("notify_reveal", "a puzzle is revealed"),
                 ("notify_feedback", "a mentor comments on or changes the points of one of your answers"))


@bp.post("/profile/notifications")
@login_required
def update_notifications():
    """Three checkboxes: present and "1" means yes; absent (unticked) means no."""
    choices = {}
    for name, _ in NOTIFICATIONS:
        value = request.form.get(name, "0")
        if value not in ("0", "1"):
            abort(400, f"{name} must be 0 or 1.")
        choices[name] = value == "1"
    for name, on in choices.items():
        setattr(current_user, name, on)
    db.session.commit()
    wanted = [label for name, label in NOTIFICATIONS if choices[name]]
    flash("You will get an email when " + "; when ".join(wanted) + "." if wanted
          else "You will get no notification emails.", "success")
    return redirect(url_for("profile.show", _anchor="notifications"), 303)


@bp.post("/profile/tokens")
@login_required
def create_token():
    """Issue a token and show it on this response only (no redirect: it must not be stored)."""
    form = TokenForm()
    if not form.validate_on_submit():
        return _page(token_form=form, status=400)
    active = sum(1 for t in _tokens() if t.revoked_at is None)
    if active >= MAX_ACTIVE_TOKENS:
        form.name.errors.append(f"You have {active} active tokens, the most allowed: revoke one first.")
        return _page(token_form=form, status=400)
    _, plain = ApiToken.issue(current_user, form.name.data, int(form.expires.data) or None)
    db.session.commit()
    return _page(new_token=plain, status=201)


@bp.post("/profile/tokens/<int:token_id>/revoke")
@login_required
def revoke_token(token_id: int):
    token = db.session.get(ApiToken, token_id)
    if token is None or token.user_id != current_user.id:
        abort(404, "No such token.")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        db.session.commit()
        flash(f"Token {token.name!r} ({token.prefix}…) revoked: it no longer works.", "success")
    else:
        flash(f"Token {token.name!r} was already revoked.", "info")
    return redirect(url_for("profile.show"), 303)


PASSWORD_GUESSES = 5             # wrong current passwords per user per window, then 429
PASSWORD_GUESS_WINDOW = 15 * 60  # seconds


@bp.post("/profile/password")
@login_required
def change_password():
    """A new password for a known current one; every other session ends and this browser gets
    a fresh one. Wrong current passwords are counted per session: a stolen session cannot be
    used to guess the password, nor to block its owner's own change."""
    form = _password_form()
    if not form.validate_on_submit():
        return _page(password_form=form, status=400)
    key = f"password-change:{current_user.id}:{(sessions.current_hash() or '')[:16]}"
    # Counted (and committed) before the check, like a log-in: parallel guesses cannot slip
    # under the limit, and a blocked guess tells nothing.
    wait = hit_many([(key, PASSWORD_GUESSES)], PASSWORD_GUESS_WINDOW, commit=True)
    if wait is None and not current_user.check_password(form.current_password.data):
        form.current_password.errors.append("That is not your current password; nothing was changed.")
        return _page(password_form=form, status=400)
    if wait is not None:
        minutes = max(1, -(-wait // 60))
        form.current_password.errors.append(
            f"Too many wrong passwords. Try again in {minutes} minute{'s' if minutes != 1 else ''}.")
        return _page(password_form=form, status=429, headers={"Retry-After": str(wait)})
    forget(key, PASSWORD_GUESS_WINDOW)
    user = current_user._get_current_object()
    user.set_password(form.new_password.data)
    # Every session ends, this browser's too (a copy of its cookie may be what was stolen);
    # this browser then gets a new one. One commit: the password and the revocations together.
    others = max(0, sessions.end_all(user.id, commit=False) - 1)
    unlock(user)  # the log-in throttle's counts were about the old password
    sessions.log_in(user)
    flash(f"Password changed. You were logged out everywhere else ({others} other "
          f"session{'s' if others != 1 else ''} ended); this browser stays logged in.", "success")
    current_app.logger.info("user %s changed their password; %s other sessions ended", user.id, others)
    return redirect(url_for("profile.show"), 303)


@bp.post("/profile/sessions/<int:session_id>/revoke")
@login_required
def revoke_session(session_id: int):
    row = sessions.end_one(current_user.id, session_id)
    if row is None:
        abort(404, "No such session.")
    if sessions.is_current(row):
        sessions.end_current()
        flash("You logged out this browser.", "info")
        return redirect(url_for("accounts.login"), 303)
    flash("That session is logged out: it no longer works.", "success")
    return redirect(url_for("profile.show"), 303)


@bp.post("/profile/sessions/revoke-all")
@login_required
def revoke_all_sessions():
    """Every session ends (this one included); with `tokens`, every API token too: a stolen
    session may have made one."""
    tokens = request.form.get("tokens") == "1" and revoke_all_tokens(current_user.id)
    count = sessions.end_all(current_user.id)
    sessions.end_current()
    flash(f"You are logged out everywhere ({count} session{'s' if count != 1 else ''} ended), "
          "this browser included" + (f", and {tokens} API token{'s' if tokens != 1 else ''} revoked."
                                     if tokens is not False else "."), "info")
    return redirect(url_for("accounts.login"), 303)
