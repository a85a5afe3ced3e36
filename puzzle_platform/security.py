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
from werkzeug.routing import IntegerConverter


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


class RowIdConverter(IntegerConverter):
    """`<int:...>` in every route: ids a database column can hold (1 to 2**31 - 1). A larger
    number names no row and is a 404 here, not an overflow error in the database."""

    def __init__(self, map, *args, **kwargs) -> None:  # noqa: A002 (werkzeug's name)
        kwargs.setdefault("min", 0)
        kwargs.setdefault("max", 2**31 - 1)
        super().__init__(map, *args, **kwargs)


def init_app(app: Flask) -> None:
    """Headers on every response; trust X-Forwarded-For/-Proto from TRUSTED_PROXY_COUNT proxies.

    Behind nginx the socket peer is nginx itself, so without ProxyFix every visitor would
    share one IP and one login limit; with it and no proxy, a client could forge its IP.
    """
    app.url_map.converters["int"] = RowIdConverter  # before any route is added
    proxies = int(app.config.get("TRUSTED_PROXY_COUNT", 0))
    if proxies > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)  # type: ignore[method-assign]

    @app.before_request
    def _no_nul_bytes():
        """A NUL in a path or query argument names nothing (and PostgreSQL refuses it in text)."""
        if "\x00" in request.path or any("\x00" in v for v in request.args.values()):
            abort(404, "No such page.")
        # ... nor in a form field or a JSON string: PostgreSQL cannot store it, so say so first.
        if request.method in ("POST", "PUT", "PATCH", "DELETE") and (
                any("\x00" in v for v in request.form.values())
                or (request.is_json and b"\\u0000" in request.get_data())):
            abort(400, "Text may not contain NUL characters.")

    @app.after_request
    def _headers(response):
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if app.config.get("PUZZLES_PRODUCTION") and app.config.get("HSTS_SECONDS", 0) > 0:
            response.headers.setdefault("Strict-Transport-Security", f"max-age={app.config['HSTS_SECONDS']}")
        return response
