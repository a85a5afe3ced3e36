"""gunicorn settings for production:

    gunicorn -c gunicorn.conf.py "puzzle_platform:create_app()"

Every value comes from puzzle_platform.config.server_settings (BIND or PORT, WEB_CONCURRENCY,
WEB_THREADS, WEB_TIMEOUT, WEB_GRACEFUL_TIMEOUT), so the variables are documented in one place.
Migrations are not run here or by create_app: run `python manage.py db upgrade` first.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run from any folder

from gunicorn.glogging import Logger  # noqa: E402

from puzzle_platform.config import log_format, server_settings  # noqa: E402  (needs the path above)

_settings = server_settings()

bind = _settings["bind"]
workers = _settings["workers"]
threads = _settings["threads"]          # > 1 selects gunicorn's gthread worker
timeout = _settings["timeout"]          # a request taking longer gets its worker restarted
graceful_timeout = _settings["graceful_timeout"]
keepalive = 5

accesslog = None                        # the app logs each request itself (logging_setup.py)
errorlog = "-"                          # gunicorn's own messages to stderr, next to the app's


class JsonLogger(Logger):
    """gunicorn's own messages (start, worker boot and timeouts) as JSON lines like the app's,
    so that a log collector reads one format from stderr."""

    def setup(self, cfg) -> None:
        super().setup(cfg)
        from puzzle_platform.logging_setup import JsonFormatter
        for handler in self.error_log.handlers:
            handler.setFormatter(JsonFormatter())


if log_format() == "json":
    logger_class = JsonLogger

# Each worker imports and builds the app itself: no database connection or thread made in the
# master can leak into the forked workers. Set it to True only for faster restarts; post_fork
# below then drops the master's connections.
preload_app = False


def post_fork(server, worker) -> None:
    """A forked worker must not share the master's database sockets (only with preload_app)."""
    app = getattr(server.app, "callable", None)
    engines = getattr(app, "extensions", {}).get("sqlalchemy") if app is not None else None
    if engines is not None:
        with app.app_context():
            engines.engine.dispose(close=False)
