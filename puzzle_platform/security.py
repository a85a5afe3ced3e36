"""Browser-facing hardening: security headers with a strict CSP, and trusted proxies.

CSP: every script is a same-origin file (static/app.js, /vendor/plotly.min.js); pages carry
figure data only in <script type="application/json"> blocks, which browsers never execute,
so `script-src 'self'` with neither 'unsafe-inline' nor 'unsafe-eval' is enough. Checked
against the bundled plotly.js (v4): its only `Function(...)`/`eval` uses are a guarded
globalThis fallback, a Function.prototype.bind polyfill and map-tile workers, none of which
run for the SVG traces (histograms, bars) the puzzles draw. plotly does inject <style>
elements and style attributes, hence `style-src 'self' 'unsafe-inline'`.
"""
from __future__ import annotations

from flask import Flask, abort, request
from werkzeug.middleware.proxy_fix import ProxyFix


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

    @app.before_request
    def _no_nul_bytes():
        """A NUL in a path or query argument names nothing (and PostgreSQL refuses it in text)."""
        if "\x00" in request.path or any("\x00" in v for v in request.args.values()):
            abort(404, "No such page.")

    @app.after_request
    def _headers(response):
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if app.config.get("PUZZLES_PRODUCTION") and app.config.get("HSTS_SECONDS", 0) > 0:
            response.headers.setdefault("Strict-Transport-Security", f"max-age={app.config['HSTS_SECONDS']}")
        return response
