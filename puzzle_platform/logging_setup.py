"""Logging: one line per request plus the app's own records, to stderr, as text or JSON lines.

Stderr because gunicorn, systemd and container runtimes all collect it; JSON (LOG_FORMAT=json,
the production default) so a log collector can index the fields. A request line carries the
method, the path (never the query string, which may hold tokens), the status, the duration,
the user id and a request id (the caller's X-Request-ID, or a fresh one, echoed in the
response). Nothing else of the request is logged: no bodies, no headers, no passwords.
"""
from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from datetime import datetime, timezone

from flask import Flask, g, has_request_context, request, session
from flask.logging import default_handler

REQUEST_LOGGER = "puzzle_platform.request"
REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# Fields a request line carries; the JSON formatter copies them from the record.
REQUEST_FIELDS = ("method", "path", "status", "duration_ms", "user_id", "request_id")


class StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is when a record is emitted (pytest swaps it per test)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self):  # type: ignore[override]
        stream = sys.stderr
        if getattr(stream, "logger", None) is not None:
            # Celery's worker replaces sys.stderr by a LoggingProxy that logs what is written
            # to it: our records would loop back into logging and be dropped. Use the real one.
            return sys.__stderr__ or stream
        return stream

    @stream.setter
    def stream(self, value) -> None:  # StreamHandler.__init__ assigns it; ignore
        pass


class RequestIdFilter(logging.Filter):
    """Tags every record logged while serving a request with that request's id."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id") and has_request_context():
            record.request_id = g.get("request_id")
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request fields, exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict = {
            "ts": datetime.fromtimestamp(record.created, tz=timezone.utc).isoformat(timespec="milliseconds")
                  .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in REQUEST_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    """Plain lines for a person at a terminal (the embedded default). A message is one line
    whatever it quotes (a request path with CR/LF, Flask's "Exception on <path>"): control
    characters are escaped, so nobody can write a forged line; a traceback follows as usual."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        return _printable(super().formatMessage(record))


def configure_logging(app: Flask) -> None:
    """Install the one stderr handler on the root logger (replacing ours from an earlier call).

    Idempotent: tests create many apps, and `manage.py run` calls it again after migrating.
    Alembic's env.py (fileConfig) puts its own console handler on the root logger: a plain
    StreamHandler, removed here too, or every record (each request line) would print twice.
    Other handlers (pytest's capture handlers are subclasses) are left alone.
    """
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, StderrHandler) or type(h) is logging.StreamHandler]:
        root.removeHandler(old)
    handler = StderrHandler()
    handler.setFormatter(JsonFormatter() if app.config.get("LOG_FORMAT") == "json" else TextFormatter())
    handler.addFilter(RequestIdFilter())
    root.addHandler(handler)
    level = logging.getLevelName(str(app.config.get("LOG_LEVEL", "INFO")))
    level = level if isinstance(level, int) else logging.INFO
    root.setLevel(level)
    # Our loggers keep their own level, so another library resetting the root's level
    # (Alembic sets WARN) does not silence them.
    logging.getLogger("puzzle_platform").setLevel(level)
    app.logger.removeHandler(default_handler)  # records reach the root handler instead
    # The app logs every request itself; werkzeug's dev-server access lines would double them.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    if app.config.get("PRODUCTION_SQLITE_WARNING"):
        app.logger.warning("PUZZLES_PRODUCTION=1 on SQLite: web processes serialise every write; "
                           "use PostgreSQL (DATABASE_URL=postgresql+psycopg://...)")


def _printable(text: str) -> str:
    """`text` with control characters escaped, so that a request path holding CR/LF cannot
    write a forged line into a text log (JSON lines escape them already)."""
    return text if text.isprintable() else text.encode("unicode_escape").decode("ascii")


def _request_id() -> str:
    given = request.headers.get(REQUEST_ID_HEADER, "")
    return given if _REQUEST_ID_RE.match(given) else uuid.uuid4().hex


def _user_id() -> str | None:
    """The logged-in user's id, without a database query (the database may be the problem)."""
    user = g.get("_login_user")
    if user is not None:  # checked this request: a cookie whose login has ended is nobody
        return str(user.get_id()) if getattr(user, "is_authenticated", False) else None
    return session.get("_user_id")  # not checked this request: the id the signed cookie names


def init_app(app: Flask) -> None:
    """Configure logging and log every request (including errors: Flask runs after_request
    for the error page of an unhandled exception too)."""
    configure_logging(app)
    log = logging.getLogger(REQUEST_LOGGER)

    @app.before_request
    def _start() -> None:
        g.request_id = _request_id()
        g.request_started = time.perf_counter()

    @app.after_request
    def _finish(response):
        request_id = g.get("request_id") or _request_id()
        response.headers[REQUEST_ID_HEADER] = request_id
        started = g.get("request_started")
        duration_ms = round((time.perf_counter() - started) * 1000, 2) if started else None
        fields = {"method": request.method, "path": request.path, "status": response.status_code,
                  "duration_ms": duration_ms, "user_id": _user_id(), "request_id": request_id}
        log.info("%s %s %s %sms user=%s", request.method, request.path, response.status_code,
                 duration_ms, fields["user_id"] or "-", extra=fields)
        return response
