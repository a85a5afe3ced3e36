"""Accounts: which account a typed name means, and creating one. One home for both, so the
log-in form, registration and the command line agree on what "taken" means."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..models import User


def find_account(name: str) -> User | None:
    """The account a typed name means: its username or its email, in any case."""
    name = name.strip().lower()
    return db.session.scalar(sa.select(User).where(
        sa.or_(sa.func.lower(User.username) == name, User.email == name)))


def name_or_email_taken(username: str, email: str) -> bool:
    return db.session.scalar(sa.select(sa.func.count()).select_from(User).where(
        sa.or_(sa.func.lower(User.username) == username.strip().lower(), User.email == email.strip().lower()))) > 0


def create_account(username: str, email: str, password: str, *, role: str = "scholar",
                   display_name: str | None = None) -> User | None:
    """A new committed account, or None when the username (any case) or the email is taken,
    also when a parallel registration took it first: the unique indexes on lower(username)
    and email are the last guard."""
    username, email = username.strip(), email.strip().lower()
    if name_or_email_taken(username, email):
        return None
    user = User(username=username, email=email, role=role, display_name=(display_name or username).strip())
    user.set_password(password)
    db.session.add(user)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return None
    return user
