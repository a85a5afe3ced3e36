"""People: users with a role, their API tokens (stored hashed) and cohorts."""
from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from ..extensions import db
from ..timeutil import UTCDateTime, utcnow

ROLES = ("scholar", "mentor", "admin")


class User(UserMixin, db.Model):
    __tablename__ = "users"
    __table_args__ = (
        sa.CheckConstraint("role IN ('scholar','mentor','admin')", name="role"),
        # Usernames are unique in any case ("Dee" and "dee" are one name), even for two
        # registrations in the same instant.
        sa.Index("uq_users_username_lower", sa.func.lower(sa.column("username")), unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(32), unique=True)
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    role: Mapped[str] = mapped_column(sa.String(16), default="scholar")
    display_name: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # A featured explanation shows its author's display name unless they chose anonymity.
    feature_anonymously: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    # Email notifications, each opt-in (profile): a puzzle goes live, is revealed, a mentor's
    # comment or override reaches you. last_seen_index_at: "new since your last visit".
    notify_live: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    notify_reveal: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    notify_feedback: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    last_seen_index_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    @property
    def is_mentor(self) -> bool:
        """Mentors and admins may see everything a mentor sees."""
        return self.role in ("mentor", "admin")

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


class ApiToken(db.Model):
    """An API token; only its SHA-256 is stored (tokens are 256-bit random, so no slow hash)."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(64), default="token")
    prefix: Mapped[str] = mapped_column(sa.String(12))
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # None: never expires

    user: Mapped[User] = relationship()

    @staticmethod
    def hash(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    @classmethod
    def issue(cls, user: User, name: str = "token",
              expires_in_days: int | None = None) -> tuple["ApiToken", str]:
        """Create a token; the plain text is returned once and never stored."""
        plain = "mip_" + secrets.token_urlsafe(32)
        expires = utcnow() + timedelta(days=expires_in_days) if expires_in_days else None
        row = cls(user_id=user.id, name=name, prefix=plain[:12], token_hash=cls.hash(plain),
                  expires_at=expires)
        db.session.add(row)
        return row, plain

    def expired(self, now: datetime | None = None) -> bool:
        return self.expires_at is not None and self.expires_at <= (now or utcnow())


class Cohort(db.Model):
    __tablename__ = "cohorts"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(sa.String(64), unique=True)
    name: Mapped[str] = mapped_column(sa.String(128))
    leaderboard_private: Mapped[bool] = mapped_column(default=True)
    invite_code: Mapped[str] = mapped_column(sa.String(32), unique=True,
                                             default=lambda: secrets.token_urlsafe(12))
    created_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    members: Mapped[list["CohortMember"]] = relationship(back_populates="cohort")


class CohortMember(db.Model):
    __tablename__ = "cohort_members"
    __table_args__ = (sa.UniqueConstraint("cohort_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    cohort_id: Mapped[int] = mapped_column(sa.ForeignKey("cohorts.id"), index=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    cohort: Mapped[Cohort] = relationship(back_populates="members")
    user: Mapped[User] = relationship()


class UserSession(db.Model):
    """A browser login, kept on the server so that logout, a password change or "log out
    everywhere" ends it: the cookie holds a random token whose SHA-256 is stored here, and a
    cookie whose row is revoked, expired or gone opens nothing."""

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    user_agent: Mapped[str] = mapped_column(sa.String(200), default="")


class Notification(db.Model):
    """One email a user is owed (a puzzle went live or was revealed; a mentor's comment or
    override reached them). The unique key makes queueing idempotent: a puzzle's reveal seen by
    two workers queues one email per person. Sent by a worker task with retries."""

    __tablename__ = "notifications"
    __table_args__ = (sa.UniqueConstraint("user_id", "kind", "ref"),
                      sa.CheckConstraint("status IN ('queued','sent','failed')", name="status"))

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(16))       # live | revealed | feedback
    ref: Mapped[str] = mapped_column(sa.String(64))        # what it is about, e.g. "puzzle:7"
    subject: Mapped[str] = mapped_column(sa.String(200))
    body: Mapped[str] = mapped_column(sa.Text)
    status: Mapped[str] = mapped_column(sa.String(16), default="queued")
    attempts: Mapped[int] = mapped_column(default=0)
    error: Mapped[str] = mapped_column(sa.Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # While queued: nobody may try before this (a sender's claim, or the backoff after an error).
    not_before: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
