"""The profile page: display name and API tokens (for the notebook client and the API).

Routes (every one needs a login; each acts on the caller's own account only):
  GET  /profile                        the page: display name form, tokens, new-token form
  POST /profile/display-name           change the display name shown on leaderboards
  POST /profile/tokens                 create a token: its plain text is on this response
                                       only (never stored, never shown again)
  POST /profile/tokens/<id>/revoke     revoke one of your tokens (someone else's id: 404)
"""
from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import SelectChoice, SelectField, StringField
from wtforms.validators import DataRequired, Length

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


def _page(name_form: DisplayNameForm | None = None, token_form: TokenForm | None = None,
          new_token: str | None = None, status: int = 200):
    name_form = name_form or DisplayNameForm(display_name=current_user.display_name)
    html = render_template("profile.html", name_form=name_form, token_form=token_form or TokenForm(),
                           tokens=_tokens(), new_token=new_token)
    # The page may carry a plain token: keep it out of every cache.
    return html, status, {"Cache-Control": "no-store"}


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
