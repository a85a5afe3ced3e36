"""One error shape: a page with the reason for browsers, {"error": ...} JSON for API clients."""
from __future__ import annotations

from flask import Flask, current_app, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from .extensions import db


def wants_json() -> bool:
    return (
        request.path.startswith("/api/")
        or request.path.endswith(".json")
        or request.accept_mimetypes.best == "application/json"
    )


def error_response(status: int, message: str, headers: dict | None = None):
    if wants_json():
        resp = jsonify({"error": {"status": status, "message": message}})
    else:
        resp = render_template("error.html", status=status, message=message)
    return resp, status, headers or {}


def _reset_session() -> None:
    """After an unhandled exception (a failed flush, a dropped database connection) the session
    must be rolled back before the error page, which reads current_user, can be rendered;
    otherwise the page itself fails and the server answers a bare 500 without this shape."""
    try:
        db.session.rollback()
    except Exception:  # noqa: BLE001 - the page is still worth trying
        pass


def _end_session(_exc: BaseException | None) -> None:
    """Registered after Flask-SQLAlchemy, so it runs before its teardown (teardowns run in
    reverse). Ending the session rolls back on its connection; if the database dropped that
    connection, the rollback raises and, at teardown, replaces a finished response (even a 303
    whose attempt was stored) with a bare 500. Invalidate the connection instead."""
    try:
        db.session.remove()
    except Exception:  # noqa: BLE001 - whatever the driver raises, the response stands
        current_app.logger.warning("dropped a broken database connection at request end", exc_info=True)
        try:
            db.session.invalidate()
        except Exception:  # noqa: BLE001
            pass
        db.session.registry.clear()


def init_app(app: Flask) -> None:
    app.teardown_appcontext(_end_session)

    @app.errorhandler(CSRFError)
    def _csrf(exc: CSRFError):
        return error_response(400, f"The form's security token is missing or expired ({exc.description}). Reload the page and try again.")

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        if (exc.code or 500) >= 500:
            _reset_session()
        headers = {}
        if exc.code == 429 and getattr(exc, "retry_after", None):
            headers["Retry-After"] = str(exc.retry_after)
        if exc.code == 405 and exc.get_response().headers.get("Allow"):
            headers["Allow"] = exc.get_response().headers["Allow"]
        return error_response(exc.code or 500, exc.description or exc.name, headers)
