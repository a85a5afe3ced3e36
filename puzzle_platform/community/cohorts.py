"""Cohorts: groups of scholars with their own leaderboard, joined by an invite code.

The one home for the rules (who may join, what a valid slug is, what regenerating a code
does); the blueprint only turns requests into calls and CohortError into a 4xx.
"""
from __future__ import annotations

import re
import secrets

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..models import Cohort, CohortMember, User

SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
MAX_NAME = 128
JOIN_PATH = "/cohorts/join/"
RESERVED_SLUGS = frozenset({"join"})  # /cohorts/join is the join-by-code route


class CohortError(Exception):
    """A refused cohort action; `status` is the HTTP status, the message is shown as is."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def new_code() -> str:
    """96 random bits: unguessable, so a code alone is enough to join."""
    return secrets.token_urlsafe(12)


def by_slug(slug: str) -> Cohort | None:
    return db.session.scalar(sa.select(Cohort).where(Cohort.slug == slug))


def by_code(code: str) -> Cohort | None:
    code = normalize_code(code)
    if not code:
        return None
    return db.session.scalar(sa.select(Cohort).where(Cohort.invite_code == code))


def normalize_code(typed: str | None) -> str:
    """What a scholar typed: the bare code, or the whole invite link pasted in."""
    text = (typed or "").strip()
    if JOIN_PATH in text:
        text = text.split(JOIN_PATH, 1)[1]
    return text.strip().strip("/")[:64]


def create(name: str | None, slug: str | None, private: bool, creator: User) -> Cohort:
    """Create a cohort, or raise CohortError (400 bad input, 409 slug taken)."""
    name = (name or "").strip()
    slug = (slug or "").strip().lower()
    if not name:
        raise CohortError(400, "Give the cohort a name.")
    if len(name) > MAX_NAME:
        raise CohortError(400, f"The name is limited to {MAX_NAME} characters.")
    if not SLUG_RE.match(slug):
        raise CohortError(400, "The slug must be 1-64 lowercase letters, digits or '-', "
                               "starting and ending with a letter or digit (e.g. mats-w27).")
    if slug in RESERVED_SLUGS:
        raise CohortError(400, f"The slug {slug!r} is reserved; choose another.")
    if by_slug(slug) is not None:
        raise CohortError(409, f"A cohort with the slug {slug!r} already exists.")
    cohort = Cohort(name=name, slug=slug, leaderboard_private=private, invite_code=new_code(),
                    created_by=creator.id)
    db.session.add(cohort)
    try:
        db.session.commit()
    except IntegrityError:  # a concurrent create took the slug first
        db.session.rollback()
        raise CohortError(409, f"A cohort with the slug {slug!r} already exists.") from None
    return cohort


def is_member(cohort_id: int, user_id: int) -> bool:
    return db.session.scalar(sa.select(CohortMember.id).where(
        CohortMember.cohort_id == cohort_id, CohortMember.user_id == user_id)) is not None


def join(cohort: Cohort, user: User) -> CohortMember:
    """Add a scholar to a cohort; joining twice is a 409, never a second row."""
    if user.is_mentor:
        raise CohortError(403, "Mentors see every cohort already; only scholars join cohorts.")
    if is_member(cohort.id, user.id):
        raise CohortError(409, f"You are already a member of {cohort.name}.")
    member = CohortMember(cohort_id=cohort.id, user_id=user.id)
    db.session.add(member)
    try:
        db.session.commit()
    except IntegrityError:  # a double click raced us: the unique constraint is the last guard
        db.session.rollback()
        raise CohortError(409, f"You are already a member of {cohort.name}.") from None
    return member


def regenerate_code(cohort: Cohort) -> str:
    """A new invite code; the old link stops working at once."""
    cohort.invite_code = new_code()
    db.session.commit()
    return cohort.invite_code


def set_private(cohort: Cohort, private: bool) -> None:
    cohort.leaderboard_private = private
    db.session.commit()


def remove_member(cohort: Cohort, user_id: int) -> User:
    """Remove one member (their attempts and points are untouched); 404 if not a member."""
    member = db.session.scalar(sa.select(CohortMember).where(
        CohortMember.cohort_id == cohort.id, CohortMember.user_id == user_id))
    if member is None:
        raise CohortError(404, "That user is not a member of this cohort.")
    user = member.user
    db.session.delete(member)
    db.session.commit()
    return user


def members(cohort: Cohort) -> list[CohortMember]:
    return list(db.session.scalars(
        sa.select(CohortMember).where(CohortMember.cohort_id == cohort.id)
        .join(User, User.id == CohortMember.user_id)
        .order_by(User.display_name, User.id)))


def member_users(cohort: Cohort) -> list[User]:
    return [m.user for m in members(cohort)]


def all_with_counts() -> list[tuple[Cohort, int]]:
    """Every cohort with its member count (mentors' list)."""
    count = sa.func.count(CohortMember.id)
    rows = db.session.execute(
        sa.select(Cohort, count).outerjoin(CohortMember, CohortMember.cohort_id == Cohort.id)
        .group_by(Cohort.id).order_by(Cohort.created_at.desc(), Cohort.id.desc()))
    return [(cohort, n) for cohort, n in rows]


def of_user(user_id: int) -> list[Cohort]:
    """The cohorts a user belongs to (scholars' list)."""
    return list(db.session.scalars(
        sa.select(Cohort).join(CohortMember, CohortMember.cohort_id == Cohort.id)
        .where(CohortMember.user_id == user_id).order_by(Cohort.name, Cohort.id)))
