"""What only admins change: users' roles, site-wide settings, the extra model allow-list.

The web admin page and `manage.py users set-role` call these functions, so both refuse the
same things with the same reasons and change nothing when they refuse.
"""
from __future__ import annotations

import re

import sqlalchemy as sa

from ..extensions import db
from ..grading.locks import lock_admins
from ..models import Setting, User
from ..models.user import ROLES
from ..recipes.sources import ADMIN_ALLOWLIST_SETTING

# Hub models an admin allows beyond the operator's configured list: stored under the key the
# model-source policy reads (recipes/sources.py).
MODEL_ALLOWLIST_SETTING = ADMIN_ALLOWLIST_SETTING
MAX_EXTRA_MODELS = 200

# A Hugging Face repo id part: letters, digits, '.', '_', '-'; starts and ends with a letter
# or digit (so never '.', '..' or '~'), at most 96 characters. No '/' but the one between
# owner and name: a name is never a path.
_PART = r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?"
_MODEL_NAME = re.compile(rf"{_PART}(?:/{_PART})?")


class AdminError(ValueError):
    """A refused change, with the reason to show (nothing was changed)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def find_user(username: str) -> User:
    """The user called `username` (case-insensitive), or AdminError 404."""
    user = db.session.scalar(sa.select(User).where(sa.func.lower(User.username) == username.lower()))
    if user is None:
        raise AdminError(f"No user {username!r}.", 404)
    return user


def change_role(user: User, role: str, actor: User | None = None) -> str:
    """Give `user` the role `role` and commit; return the role they had.

    Refused: an unknown role; an admin taking the admin role from themselves (`actor`; the
    CLI has none); taking it from the last admin. The last-admin check runs under locks on
    every admin's row, so two demotions at once leave at least one admin."""
    if role not in ROLES:
        raise AdminError(f"Unknown role {role!r}: choose one of {', '.join(ROLES)}.")
    old = user.role
    if old == "admin" and role != "admin":
        if actor is not None and actor.id == user.id:
            raise AdminError("You cannot take the admin role from yourself; ask another admin.")
        admins = lock_admins()
        db.session.refresh(user)  # what is committed now (another admin may have changed it)
        old = user.role
        if old == "admin" and admins == [user.id]:
            db.session.rollback()
            raise AdminError(f"{user.username} is the last admin; make someone else an admin first.")
    user.role = role
    db.session.commit()
    return old


def parse_model_names(text: str) -> list[str]:
    """One model name per line (blank lines ignored, duplicates dropped), or AdminError
    naming the first bad line: a hub name `owner/name` or an alias, never a path."""
    names: list[str] = []
    for number, line in enumerate(text.splitlines(), 1):
        name = line.strip()
        if not name:
            continue
        if not _MODEL_NAME.fullmatch(name) or ".." in name or "--" in name:
            shown = name if len(name) <= 80 else name[:77] + "..."
            raise AdminError(f"Line {number}: {shown!r} is not a model name. Write a hub name such as "
                             "EleutherAI/pythia-70m or an alias such as gpt2-small (letters, digits, "
                             "'.', '_', '-'); paths are not accepted here.")
        if name not in names:
            names.append(name)
    if len(names) > MAX_EXTRA_MODELS:
        raise AdminError(f"{len(names)} names: at most {MAX_EXTRA_MODELS} are allowed.")
    return names


def extra_models() -> list[str]:
    """The extra allow-list as stored (empty when never set)."""
    return list(Setting.get(MODEL_ALLOWLIST_SETTING, []) or [])


def configured_model_count() -> int:
    """How many hub names the operator's configuration allows without the admins' list."""
    from flask import current_app

    from ..recipes.sources import policy_from
    return len(policy_from(current_app.config).hub_names)


def set_extra_models(names: list[str]) -> None:
    Setting.put(MODEL_ALLOWLIST_SETTING, names)
    db.session.commit()
