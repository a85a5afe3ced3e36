"""Who is calling the API: a bearer token, never the browser session; per-token rate limits.

The API takes tokens only, so a browser never sends a credential on its own and the API
needs no CSRF protection. Tokens are looked up by their SHA-256 (see ApiToken); revoked and
unknown tokens get 401. The limits (API_REQUESTS_PER_MINUTE, API_SUBMISSIONS_PER_MINUTE per
token, SUBMISSIONS_PER_MINUTE per user) are configuration, counted in the database so that
every web process shares them, in one statement per request.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NoReturn

import sqlalchemy as sa
from flask import abort, current_app, g, make_response, request

from ..errors import error_response
from ..extensions import db
from ..models import ApiToken, User
from ..timeutil import iso, utcnow
from .ratelimit import hit_many

WINDOW_SECONDS = 60
LAST_USED_RESOLUTION = timedelta(minutes=1)  # "last used" is kept to the minute

CHALLENGE = {"WWW-Authenticate": 'Bearer realm="api"'}


def api_abort(status: int, message: str, headers: dict | None = None) -> NoReturn:
    """Stop the request with the one error shape, keeping headers (Retry-After, WWW-Authenticate)."""
    body, status, headers = error_response(status, message, headers)
    abort(make_response(body, status, headers))


@dataclass(frozen=True)
class Caller:
    """The user behind a token, read with it in one statement (the API needs no more of a
    User: who, and which role)."""

    id: int
    username: str
    display_name: str
    role: str

    @property
    def is_mentor(self) -> bool:
        return self.role in ("mentor", "admin")

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


@dataclass(frozen=True)
class Token:
    id: int
    revoked_at: datetime | None
    expires_at: datetime | None
    last_used_at: datetime | None


_TOKENS, _USERS = ApiToken.__table__, User.__table__
_LOOKUP = (sa.select(_TOKENS.c.id, _TOKENS.c.revoked_at, _TOKENS.c.expires_at, _TOKENS.c.last_used_at,
                     _USERS.c.id.label("user_id"), _USERS.c.username, _USERS.c.display_name, _USERS.c.role)
           .join(_USERS, _USERS.c.id == _TOKENS.c.user_id)
           .where(_TOKENS.c.token_hash == sa.bindparam("token_hash")))


def authenticate() -> Caller:
    """Resolve `Authorization: Bearer <token>` to its user (in g.api_user) or answer 401."""
    header = request.headers.get("Authorization", "").strip()
    if not header:
        api_abort(401, "Missing API token: send the header 'Authorization: Bearer <token>' "
                       "(create a token on your profile page).", CHALLENGE)
    scheme, _, plain = header.partition(" ")
    plain = plain.strip()
    if scheme.lower() != "bearer" or not plain:
        api_abort(401, "Malformed Authorization header: expected 'Bearer <token>'.", CHALLENGE)
    row = db.session.execute(_LOOKUP, {"token_hash": ApiToken.hash(plain)}).first()
    if row is None:
        api_abort(401, "Unknown API token.", CHALLENGE)
    token = Token(row.id, row.revoked_at, row.expires_at, row.last_used_at)
    if token.revoked_at is not None:
        api_abort(401, "This API token has been revoked; create a new one on your profile page.",
                  CHALLENGE)
    now = utcnow()
    if token.expires_at is not None and token.expires_at <= now:
        api_abort(401, f"This API token expired on {iso(token.expires_at)}; create a new one on "
                       "your profile page.", CHALLENGE)
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        # kept to the minute; written with the request's transaction
        db.session.execute(sa.update(_TOKENS).where(_TOKENS.c.id == token.id).values(last_used_at=now))
    g.api_token, g.api_user = token, Caller(row.user_id, row.username, row.display_name, row.role)
    return g.api_user


def limits() -> dict[str, int]:
    cfg = current_app.config
    return {"requests": int(cfg["API_REQUESTS_PER_MINUTE"]),
            "submissions": int(cfg["API_SUBMISSIONS_PER_MINUTE"]),
            "user_submissions": int(cfg["SUBMISSIONS_PER_MINUTE"])}


def count_request(submission: bool) -> None:
    """Count this API call (and, for an answer, the submission) for the calling token and
    user; 429 with Retry-After when over a limit. Requests that write nothing else commit the
    count here; a submission's count commits with the attempt."""
    per = limits()
    token, user = g.api_token.id, g.api_user.id
    keys = [(f"api:requests:{token}", per["requests"])]
    if submission:
        keys += [(f"api:submissions:{token}", per["submissions"]),
                 (f"submit:user:{user}", per["user_submissions"])]
    retry = hit_many(keys, WINDOW_SECONDS, commit=not submission)
    if retry is not None:
        db.session.commit()
        api_abort(429, f"Rate limit: at most {per['requests']} requests and {per['submissions']} "
                       f"submissions per minute per token, {per['user_submissions']} submissions "
                       f"per minute per user; retry in {retry} s.", {"Retry-After": str(retry)})


def revoke_all_tokens(user_id: int) -> int:
    """Revoke every live API token of a user (joins the caller's transaction); how many."""
    result = db.session.execute(sa.update(_TOKENS).where(_TOKENS.c.user_id == user_id, _TOKENS.c.revoked_at.is_(None))
                                .values(revoked_at=utcnow()))
    return result.rowcount or 0
