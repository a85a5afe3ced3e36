"""Browser-facing hardening: security headers with a strict CSP, proxies, login throttling and
a check against the most common passwords.

CSP: every script is a same-origin file (static/app.js, /vendor/plotly.min.js); pages carry
figure data only in <script type="application/json"> blocks, which browsers never execute,
so `script-src 'self'` with neither 'unsafe-inline' nor 'unsafe-eval' is enough. Checked
against the bundled plotly.js (v4): its only `Function(...)`/`eval` uses are a guarded
globalThis fallback, a Function.prototype.bind polyfill and map-tile workers, none of which
run for the SVG traces (histograms, bars) the puzzles draw. plotly does inject <style>
elements and style attributes, hence `style-src 'self' 'unsafe-inline'`.
"""
from __future__ import annotations

import hashlib

from flask import Flask, current_app, request
from werkzeug.middleware.proxy_fix import ProxyFix

from .ratelimit import hit, peek

CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "font-src 'self' data:",
    "connect-src 'self'",
    "worker-src 'self' blob:",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


def init_app(app: Flask) -> None:
    """Headers on every response; trust X-Forwarded-For/-Proto from TRUSTED_PROXY_COUNT proxies.

    Behind nginx the socket peer is nginx itself, so without ProxyFix every visitor would
    share one IP and one login limit; with it and no proxy, a client could forge its IP.
    """
    proxies = int(app.config.get("TRUSTED_PROXY_COUNT", 0))
    if proxies > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)  # type: ignore[method-assign]

    @app.after_request
    def _headers(response):
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if app.config.get("PUZZLES_PRODUCTION") and app.config.get("HSTS_SECONDS", 0) > 0:
            response.headers.setdefault("Strict-Transport-Security", f"max-age={app.config['HSTS_SECONDS']}")
        return response


# ---- login throttling -------------------------------------------------------------------

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


# ---- common passwords -------------------------------------------------------------------

# The most common leaked passwords that pass the length rule (>= 10 characters), from the
# public top-password lists (SecLists, NCSC); short ones are already refused by length.
COMMON_PASSWORDS = frozenset("""
1234567890 0123456789 0987654321 9876543210 12345678910 123456789a 123456789q 1234567890a
1111111111 0000000000 1212121212 1234512345 1122334455 1020304050 5555555555 7777777777
qwertyuiop qwertyuiop123 1q2w3e4r5t 1q2w3e4r5t6y 1qaz2wsx3edc 1qazxsw23edc qazwsxedcrfv
zaq12wsxcde3 asdfghjkl1 asdfghjkl123 zxcvbnm123 qwerty1234 qwerty12345 qwerty123456
password12 password123 password1234 password12345 password123! password1! passw0rd123
p@ssword123 p@ssw0rd123 mypassword mypassword1 mypassword123 passwordpassword iloveyou12
iloveyou123 iloveyou1234 princess123 sunshine123 football123 baseball123 basketball
superman123 starwars123 letmein1234 welcome123 welcome1234 welcome2024 welcome2025
administrator admin12345 admin123456 adminadmin changeme123 trustno1234 computer123
abcdefghij abc1234567 abcd123456 abcdef1234 1234abcd1234 aaaaaaaaaa monkey1234
michael123 charlie123 jennifer123 liverpool1 chelsea123 pokemon123 minecraft1 minecraft123
123qweasdzxc 1234qwerasdf q1w2e3r4t5 q1w2e3r4t5y6 a1b2c3d4e5 1a2b3c4d5e qwertyuiop1
""".split())


def is_common_password(password: str) -> bool:
    """True for a top-list password (case-insensitive) or one made of a single repeated character."""
    text = password.strip().lower()
    return text in COMMON_PASSWORDS or len(set(text)) <= 1
