"""One error shape: a page with the reason for browsers, {"error": ...} JSON for API clients."""
from __future__ import annotations

from flask import Flask, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException


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


def init_app(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def _csrf(exc: CSRFError):
        return error_response(400, f"The form's security token is missing or expired ({exc.description}). Reload the page and try again.")

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        headers = {}
        if exc.code == 429 and getattr(exc, "retry_after", None):
            headers["Retry-After"] = str(exc.retry_after)
        if exc.code == 405 and exc.get_response().headers.get("Allow"):
            headers["Allow"] = exc.get_response().headers["Allow"]
        return error_response(exc.code or 500, exc.description or exc.name, headers)
