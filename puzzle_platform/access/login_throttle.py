"""Login throttling that holds under parallel requests and cannot lock a victim out.

Every attempt passes a gate *before* its password is checked, and the gate counts it in the
same statement that reads the count (an UPSERT ... RETURNING, committed before the check): N
parallel guesses run at most the limit's number of password checks.

The key is the account the typed name resolves to (username or email, any case), so both
spellings count together; a name that matches no account is counted under its hash, exactly
like a real one, so the answers tell nothing about which accounts exist. Two counters:

- per (account, source): LOGIN_FAILURES_PER_ACCOUNT_ADDRESS attempts per window. The source
  is the client address (after TRUSTED_PROXY_COUNT proxies), or the browser's device cookie
  when it holds one from an earlier login to this account;
- per account: past LOGIN_FAILURES_PER_ACCOUNT attempts in a window, sources without that
  account's device cookie wait a delay that doubles with every attempt (1 s, 2 s, 4 s, ... up
  to LOGIN_MAX_DELAY). Browsers that logged in before never wait for it, so an attacker
  spreading guesses over many addresses slows down to a trickle, while the owner still logs
  in from their own browser;
- per address, over all accounts: LOGIN_FAILURES_PER_ADDRESS attempts per window (browsers
  with a device cookie aside), so one address cannot spray a few passwords over every
  account, nor make the server hash passwords without end.

A successful login takes its own attempt back, forgets its source's failures and gives the
browser the device cookie. The cookie is bound to the account's password: after a password
change the cookies issued before are worth nothing.
"""
from __future__ import annotations

import hashlib
import math
import secrets
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from flask import Response, current_app, request
from itsdangerous import BadSignature, URLSafeTimedSerializer

from ..extensions import db
from ..models import RateCounter, User
from ..timeutil import utcnow
from .accounts import find_account
from .ratelimit import dialect_insert, forget, hit_many, take_back, window_start

DEVICE_COOKIE = "login_device"
DEVICE_DAYS = 365


@dataclass(frozen=True)
class Gate:
    """The outcome of the gate: `wait` seconds when refused; else the account (None for a
    name that matches none) whose password may now be checked once."""

    user: User | None
    wait: int | None
    pair_key: str
    account_key: str
    address_key: str | None  # None: a known browser, not counted per address
    counted_ceiling: bool


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="login-device")


def _password_mark(user: User) -> str:
    """Changes whenever the password does: binds device cookies to the password they proved."""
    return _digest(user.password_hash)[:16]


def _device_of(user: User | None) -> str | None:
    """The nonce of this browser's device cookie if a login to `user`, with the password the
    account has now, issued it."""
    raw = request.cookies.get(DEVICE_COOKIE)
    if user is None or not raw:
        return None
    try:
        user_id, nonce, mark = _serializer().loads(raw, max_age=DEVICE_DAYS * 86400)
    except (BadSignature, ValueError, TypeError):
        return None
    return str(nonce) if user_id == user.id and mark == _password_mark(user) else None


def remember_device(response: Response, user: User) -> Response:
    """Mark this browser as one `user` logged in from (after a successful login)."""
    value = _serializer().dumps([user.id, secrets.token_urlsafe(12), _password_mark(user)])
    response.set_cookie(DEVICE_COOKIE, value, max_age=DEVICE_DAYS * 86400, path="/login", httponly=True,
                        secure=bool(current_app.config.get("SESSION_COOKIE_SECURE")), samesite="Lax")
    return response


_CEILINGS: dict[str, sa.Insert] = {}


def _ceiling_upsert() -> sa.Insert:
    """Count an attempt against the account's ceiling, only if its delay has passed; past the
    ceiling each attempt doubles the delay. SET expressions read the row's old values on both
    PostgreSQL and SQLite; a refused attempt returns no row and changes nothing."""
    dialect = db.session.get_bind().dialect.name
    if dialect not in _CEILINGS:
        insert = dialect_insert()
        t = RateCounter.__table__
        over = t.c.count + 1 > sa.bindparam("ceiling")
        grown = sa.case((t.c.delay == 0, 1), (t.c.delay * 2 > sa.bindparam("cap"), sa.bindparam("cap")),
                        else_=t.c.delay * 2)
        stmt = insert(t).values(key=sa.bindparam("k"), window_start=sa.bindparam("w", type_=t.c.window_start.type),
                                count=1, delay=0)
        _CEILINGS[dialect] = stmt.on_conflict_do_update(
            index_elements=["key", "window_start"],
            set_={"count": t.c.count + 1,
                  "delay": sa.case((over, grown), else_=0),
                  "next_at": sa.case((over, sa.bindparam("now") + grown), else_=None)},
            where=sa.or_(t.c.next_at.is_(None), t.c.next_at <= sa.bindparam("now")),
        ).returning(t.c.count)
    return _CEILINGS[dialect]


def _ceiling_wait(key: str, start, now_epoch: int) -> int:
    t = RateCounter.__table__
    next_at = db.session.scalar(sa.select(t.c.next_at).where(t.c.key == key, t.c.window_start == start))
    return max(1, int(next_at or 0) - now_epoch)


def open_gate(name: str) -> Gate:
    """Count this attempt (committed) and say whether its password may be checked."""
    cfg = current_app.config
    window = int(cfg["LOGIN_FAILURE_WINDOW"])
    user = find_account(name)
    account = f"u{user.id}" if user is not None else "n" + _digest(name.strip().lower())
    device = _device_of(user)
    address = "a" + _digest(request.remote_addr or "unknown")
    source = f"d{_digest(device)}" if device else address
    pair_key, account_key = f"login:{account}:{source}", f"login:{account}"
    address_key = None if device else f"login:{address}"
    now = utcnow()
    limits = [(pair_key, int(cfg["LOGIN_FAILURES_PER_ACCOUNT_ADDRESS"]))]
    if address_key:
        limits.append((address_key, int(cfg["LOGIN_FAILURES_PER_ADDRESS"])))
    wait = hit_many(limits, window, now)
    counted = False
    if wait is None and device is None:
        start, epoch = window_start(now, window), math.floor(now.timestamp())
        row = db.session.execute(_ceiling_upsert(), {
            "k": account_key, "w": start, "now": epoch, "ceiling": int(cfg["LOGIN_FAILURES_PER_ACCOUNT"]),
            "cap": int(cfg["LOGIN_MAX_DELAY"])}).first()
        counted = row is not None
        if row is None:
            wait = _ceiling_wait(account_key, start, epoch)
    db.session.commit()  # the count is kept before any password is checked
    return Gate(user, wait, pair_key, account_key, address_key, counted)


def login_succeeded(gate: Gate) -> None:
    """The owner got in: forget this source's failures and take back the attempt from the
    account's count (the failures of other sources stay)."""
    window = int(current_app.config["LOGIN_FAILURE_WINDOW"])
    forget(gate.pair_key, window)
    if gate.address_key:
        take_back(gate.address_key, window)
    if gate.counted_ceiling:
        take_back(gate.account_key, window)


def unlock(user: User) -> int:
    """Forget every login count of `user`'s account (the operator's `users unlock`): its
    ceiling, its delays and its per-source counts; how many counters were dropped."""
    t = RateCounter.__table__
    prefix = f"login:u{user.id}"
    result = db.session.execute(sa.delete(t).where(sa.or_(t.c.key == prefix, t.c.key.startswith(prefix + ":"))))
    return result.rowcount or 0


def throttled_message(retry_after: int) -> str:
    if retry_after < 60:
        return f"Too many failed log-in attempts. Try again in {retry_after} s."
    minutes = -(-retry_after // 60)
    return f"Too many failed log-in attempts. Try again in {minutes} minute{'s' if minutes != 1 else ''}."


def registration_wait() -> int | None:
    """Count a registration from this client address; seconds to wait when over the limit."""
    limit = int(current_app.config["REGISTRATIONS_PER_ADDRESS"])
    key = "register:" + _digest(request.remote_addr or "unknown")
    return hit_many([(key, limit)], int(timedelta(hours=1).total_seconds()), commit=True)
