"""Login throttling: failed passwords counted per typed name and per client address."""
from __future__ import annotations

import hashlib

from flask import current_app, request

from .ratelimit import hit, peek

def _login_keys(username: str) -> list[tuple[str, int]]:
    """Rate-limit keys and limits for a login attempt: one per typed name, one per client IP.

    The name is hashed: people type passwords into the username field, and those must not
    be stored. Names that belong to no account are counted exactly like real ones, so the
    limit reveals nothing about which accounts exist.
    """
    cfg = current_app.config
    name = hashlib.sha256(username.strip().lower().encode()).hexdigest()[:32]
    return [(f"login:user:{name}", int(cfg["LOGIN_FAILURES_PER_USER"])),
            (f"login:ip:{request.remote_addr or 'unknown'}", int(cfg["LOGIN_FAILURES_PER_IP"]))]


def login_blocked(username: str) -> int | None:
    """Seconds until another attempt is allowed when this name or IP is over its limit."""
    window = int(current_app.config["LOGIN_FAILURE_WINDOW"])
    waits = [w for key, limit in _login_keys(username) if (w := peek(key, limit, window)) is not None]
    return max(waits) if waits else None


def record_login_failure(username: str) -> None:
    """Count a failed password (successful logins are never counted)."""
    window = int(current_app.config["LOGIN_FAILURE_WINDOW"])
    for key, limit in _login_keys(username):
        hit(key, limit, window)


def throttled_message(retry_after: int) -> str:
    minutes = max(1, -(-retry_after // 60))
    return (f"Too many failed log-in attempts. Try again in {minutes} minute{'s' if minutes != 1 else ''}.")
