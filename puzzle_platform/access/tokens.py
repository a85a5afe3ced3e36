"""Who is calling the API: a bearer token, never the browser session; per-token rate limits.

The API takes tokens only, so a browser never sends a credential on its own and the API
needs no CSRF protection. Tokens are looked up by their SHA-256 (see ApiToken); revoked and
unknown tokens get 401. The limits (API_REQUESTS_PER_MINUTE, API_SUBMISSIONS_PER_MINUTE per
token, SUBMISSIONS_PER_MINUTE per user) are configuration, counted in the database so that
every web process shares them, in one statement per request.
"""
from __future__ import annotations

from datetime import timedelta
from typing import NoReturn

import sqlalchemy as sa
from flask import abort, current_app, g, make_response, request
from sqlalchemy.orm import joinedload

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


def authenticate() -> User:
    """Resolve `Authorization: Bearer <token>` to its user (in g.api_user) or answer 401."""
    header = request.headers.get("Authorization", "").strip()
    if not header:
        api_abort(401, "Missing API token: send the header 'Authorization: Bearer <token>' "
                       "(create a token on your profile page).", CHALLENGE)
    scheme, _, plain = header.partition(" ")
    plain = plain.strip()
    if scheme.lower() != "bearer" or not plain:
        api_abort(401, "Malformed Authorization header: expected 'Bearer <token>'.", CHALLENGE)
    token = db.session.scalar(sa.select(ApiToken).options(joinedload(ApiToken.user))
                              .where(ApiToken.token_hash == ApiToken.hash(plain)))
    if token is None:
        api_abort(401, "Unknown API token.", CHALLENGE)
    if token.revoked_at is not None:
        api_abort(401, "This API token has been revoked; create a new one on your profile page.",
                  CHALLENGE)
    now = utcnow()
    if token.expired(now):
        api_abort(401, f"This API token expired on {iso(token.expires_at)}; create a new one on "
                       "your profile page.", CHALLENGE)
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        token.last_used_at = now  # written with the request's transaction
    g.api_token, g.api_user = token, token.user
    return token.user


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
