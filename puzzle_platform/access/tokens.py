"""Who is calling the API: a bearer token, never the browser session; per-token rate limits.

The API takes tokens only, so a browser never sends a credential on its own and the API
needs no CSRF protection. Tokens are looked up by their SHA-256 (see ApiToken); revoked and
unknown tokens get 401. The rate limits live here, in one place, and are counted per token
in the database so that every web process shares them.
"""
from __future__ import annotations

from typing import NoReturn

import sqlalchemy as sa
from flask import abort, g, make_response, request

from ..errors import error_response
from ..extensions import db
from ..models import ApiToken, User
from .ratelimit import hit
from ..timeutil import iso, utcnow

WINDOW_SECONDS = 60
REQUESTS_PER_MINUTE = 120      # every authenticated API call
SUBMISSIONS_PER_MINUTE = 30    # POSTs of answers (on top of the wrong-answer waits)

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
    token = db.session.scalar(sa.select(ApiToken).where(ApiToken.token_hash == ApiToken.hash(plain)))
    if token is None:
        api_abort(401, "Unknown API token.", CHALLENGE)
    if token.revoked_at is not None:
        api_abort(401, "This API token has been revoked; create a new one on your profile page.",
                  CHALLENGE)
    if token.expired():
        api_abort(401, f"This API token expired on {iso(token.expires_at)}; create a new one on "
                       "your profile page.", CHALLENGE)
    token.last_used_at = utcnow()
    db.session.commit()
    g.api_token, g.api_user = token, token.user
    return token.user


def rate_limit(kind: str, limit: int) -> None:
    """Count one `kind` event for the calling token; 429 with Retry-After when over `limit`."""
    retry = hit(f"api:{kind}:{g.api_token.id}", limit, WINDOW_SECONDS)
    if retry is not None:
        api_abort(429, f"Rate limit: at most {limit} {kind} per minute per token; "
                       f"retry in {retry} s.", {"Retry-After": str(retry)})
