"""Browser logins kept on the server, so that ending one really ends it.

Flask's session is a signed cookie: on its own, a copy saved before logout would keep
working until the key changes. So the cookie also carries a random 256-bit token (`sid`)
whose SHA-256 is a UserSession row, and the user loader trusts the cookie's user id only
while that row is live: not revoked, younger than SESSION_LIFETIME_DAYS and seen within
SESSION_IDLE_DAYS. Logout revokes the row; a password change revokes every row of the user
and gives this browser a new one; "log out everywhere" revokes them all.
"""
from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app, g, request, session
from flask_login import login_user, logout_user

from ..extensions import db
from ..models import User, UserSession
from ..timeutil import utcnow

SESSION_KEY = "sid"
LAST_SEEN_RESOLUTION = timedelta(minutes=1)  # "last seen" is kept to the minute, like API tokens
_SESSIONS = UserSession.__table__


def _hash(plain: str) -> str:
    return hashlib.sha256(plain.encode()).hexdigest()


def _live(now: datetime) -> list[sa.ColumnElement[bool]]:
    """A live row: not revoked, not past its absolute expiry, seen within the idle timeout."""
    idle = timedelta(days=int(current_app.config["SESSION_IDLE_DAYS"]))
    return [UserSession.revoked_at.is_(None), UserSession.expires_at > now,
            UserSession.last_seen_at > now - idle]


def current_hash() -> str | None:
    plain = session.get(SESSION_KEY)
    return _hash(plain) if isinstance(plain, str) and plain else None


def log_in(user: User) -> None:
    """Log in on a fresh session: nothing from before the login (a planted session, the old
    CSRF token) survives it, which defeats session fixation; the cookie gets a new token."""
    now = utcnow()
    # Housekeeping: this user's dead rows go now, so rows never pile up per user.
    db.session.execute(sa.delete(_SESSIONS).where(
        _SESSIONS.c.user_id == user.id, sa.not_(sa.and_(*_live(now)))))
    plain = secrets.token_urlsafe(32)
    days = int(current_app.config["SESSION_LIFETIME_DAYS"])
    db.session.add(UserSession(user_id=user.id, token_hash=_hash(plain), created_at=now, last_seen_at=now,
                               expires_at=now + timedelta(days=days),
                               user_agent=(request.user_agent.string or "")[:200]))
    db.session.commit()
    session.clear()
    g.pop("csrf_token", None)  # Flask-WTF caches the token per request; the next page makes a new one
    session[SESSION_KEY] = plain
    session.permanent = True  # the cookie lasts as long as the row may (PERMANENT_SESSION_LIFETIME)
    login_user(user)


def load_user(user_id: str) -> User | None:
    """The user of this cookie, only while its session row is live: one query (the user and
    the row together); last_seen_at is written at most once a minute."""
    token_hash = current_hash()
    if token_hash is None or not user_id.isdigit():
        return None
    fresh = not db.session().in_transaction()
    now = utcnow()
    row = db.session.execute(
        sa.select(User, UserSession.id, UserSession.last_seen_at)
        .join(UserSession, UserSession.user_id == User.id)
        .where(UserSession.token_hash == token_hash, User.id == int(user_id), *_live(now))).first()
    if row is None:
        return None
    user, row_id, last_seen = row
    if now - last_seen >= LAST_SEEN_RESOLUTION:
        db.session.execute(sa.update(_SESSIONS).where(_SESSIONS.c.id == row_id).values(last_seen_at=now))
        if fresh:  # nothing else in this transaction yet: commit the touch alone
            db.session.commit()
        # else it commits with the request's own writes (or is retried on the next request)
    return user


def end_current() -> None:
    """Logout: revoke this browser's row and forget the user."""
    token_hash = current_hash()
    if token_hash is not None:
        db.session.execute(sa.update(_SESSIONS).where(_SESSIONS.c.token_hash == token_hash,
                                                      _SESSIONS.c.revoked_at.is_(None)).values(revoked_at=utcnow()))
        db.session.commit()
    session.pop(SESSION_KEY, None)
    logout_user()


def end_all(user_id: int, commit: bool = True) -> int:
    """Revoke every live session of a user (this browser's included); how many there were."""
    result = db.session.execute(sa.update(_SESSIONS).where(
        _SESSIONS.c.user_id == user_id, _SESSIONS.c.revoked_at.is_(None)).values(revoked_at=utcnow()))
    if commit:
        db.session.commit()
    return result.rowcount or 0


def end_one(user_id: int, session_id: int) -> UserSession | None:
    """Revoke one of the user's sessions; None when it is not theirs (or does not exist)."""
    row = db.session.get(UserSession, session_id)
    if row is None or row.user_id != user_id:
        return None
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        db.session.commit()
    return row


def is_current(row: UserSession) -> bool:
    return row.token_hash == current_hash()


def active(user_id: int) -> list[UserSession]:
    """The user's live sessions, the most recently seen first."""
    return list(db.session.scalars(sa.select(UserSession).where(UserSession.user_id == user_id, *_live(utcnow()))
                                   .order_by(UserSession.last_seen_at.desc(), UserSession.id.desc())))
