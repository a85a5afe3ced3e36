"""SQLite settings for the embedded default: WAL and a busy timeout so that the web process
and the local worker can write at the same time without "database is locked" errors."""
from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.engine import Engine

_configured: set[int] = set()


def configure_sqlite(engine: Engine) -> None:
    if engine.dialect.name != "sqlite" or id(engine) in _configured:
        return
    _configured.add(id(engine))

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):  # pragma: no cover - exercised by every test
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA busy_timeout=10000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()
