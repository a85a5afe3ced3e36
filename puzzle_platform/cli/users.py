"""`manage.py users create|set-password|set-role|unlock|token|ensure-admin`."""
from __future__ import annotations

import secrets

import click
import sqlalchemy as sa
from flask.cli import with_appcontext

from ..extensions import db
from ..access.accounts import create_account
from ..access.admin import AdminError, change_role, find_user
from ..access.login_throttle import unlock
from ..access.passwords import MIN_PASSWORD, password_problem
from ..access.sessions import end_all
from ..access.tokens import revoke_all_tokens
from ..models import ApiToken, User
from ..models.user import ROLES


@click.group()
def users() -> None:
    """Manage users and API tokens."""


def _fail(message: str) -> None:
    raise click.ClickException(message)


def _user(username: str) -> User:
    """The user called USERNAME (any case, as on the web), or a one-line exit."""
    try:
        return find_user(username)
    except AdminError as exc:
        _fail(str(exc).rstrip("."))
        raise  # unreachable: _fail raised


@users.command("create")
@click.argument("username")
@click.option("--email", required=True)
@click.option("--role", type=click.Choice(ROLES), default="scholar", show_default=True)
@click.option("--display-name", default=None, help="Shown on leaderboards (default: the username).")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True,
              help=f"At least {MIN_PASSWORD} characters (prompted when omitted).")
@with_appcontext
def create(username: str, email: str, role: str, display_name: str | None, password: str) -> None:
    """Create a user with a role (scholar, mentor or admin)."""
    problem = password_problem(password, [username, email])
    if problem:
        _fail(f"password refused: {problem}")
    if create_account(username, email, password, role=role, display_name=display_name) is None:
        _fail(f"a user with username {username!r} or email {email!r} already exists")
    click.echo(f"created {role} {username}")


@users.command("set-password")
@click.argument("username")
@click.option("--password", prompt="New password", hide_input=True, confirmation_prompt=True,
              help=f"At least {MIN_PASSWORD} characters (prompted when omitted).")
@click.option("--revoke-tokens", is_flag=True, help="Also revoke every API token of the user.")
@with_appcontext
def set_password(username: str, password: str, revoke_tokens: bool) -> None:
    """Give USERNAME a new password and log them out everywhere (API tokens are kept unless
    --revoke-tokens)."""
    user = _user(username)
    problem = password_problem(password, [user.username, user.email])
    if problem:
        _fail(f"password refused: {problem}")
    user.set_password(password)
    ended = end_all(user.id, commit=False)
    revoked = revoke_all_tokens(user.id) if revoke_tokens else 0
    unlock(user)  # the throttle's counts were about the old password
    db.session.commit()
    click.echo(f"password changed for {user.username}; {ended} session{'s' if ended != 1 else ''} logged out"
               + (f"; {revoked} API token{'s' if revoked != 1 else ''} revoked" if revoke_tokens else ""))


@users.command("unlock")
@click.argument("username")
@with_appcontext
def unlock_command(username: str) -> None:
    """Lift the log-in throttle of USERNAME's account (its ceiling, delays and counts), e.g.
    for an owner kept out of a new browser during an attack."""
    user = _user(username)
    dropped = unlock(user)
    db.session.commit()
    click.echo(f"log-in throttle lifted for {user.username} ({dropped} counter{'s' if dropped != 1 else ''} dropped)")


@users.command("token")
@click.argument("username")
@click.option("--name", default="cli", show_default=True, help="A label to recognise the token by.")
@click.option("--days", type=click.IntRange(min=1), default=None,
              help="Expire the token after this many days (default: never).")
@with_appcontext
def token(username: str, name: str, days: int | None) -> None:
    """Print a new API token for USERNAME (shown once; only its hash is stored)."""
    user = _user(username)
    _, plain = ApiToken.issue(user, name, days)
    db.session.commit()
    click.echo(plain)


@users.command("ensure-admin")
@with_appcontext
def ensure_admin() -> None:
    """Create an 'admin' account if no admin exists; print its one-time password once."""
    if db.session.scalar(sa.select(User).where(User.role == "admin").limit(1)) is not None:
        click.echo("an admin exists already")
        return
    password = secrets.token_urlsafe(12)
    user = User(username="admin", email="admin@localhost", role="admin", display_name="Admin")
    user.set_password(password)
    db.session.add(user)
    db.session.commit()
    click.echo(f"created admin account: username 'admin', password '{password}' (shown once; change it)")


@users.command("set-role")
@click.argument("username")
@click.argument("role")
@with_appcontext
def set_role(username: str, role: str) -> None:
    """Give USERNAME the ROLE scholar, mentor or admin (never taking it from the last admin)."""
    user = _user(username)
    try:
        old = change_role(user, role)
    except AdminError as exc:
        _fail(str(exc).rstrip("."))
    if old == role:
        click.echo(f"{user.username} is already a {role}")
    else:
        click.echo(f"{user.username}: {old} -> {role}")
