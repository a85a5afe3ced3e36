"""Operations: `GET /healthz`, for load balancers, uptime checks and people.

Public and unauthenticated, so it says only what is safe to say: whether each dependency
answers (never its URL, host, credentials or error text), how fast the database answered,
how many workers are alive and how many jobs wait. 200 while the database answers (status
"ok", or "degraded" with the reasons when the broker is down or no worker is alive: the site
works, computations wait); 503 when the database does not (nothing works).
"""
from __future__ import annotations

import tempfile
import time
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from flask import Blueprint, current_app, jsonify
from sqlalchemy.exc import SQLAlchemyError

from ..cli.worker import WORKER_KEY_PREFIX
from ..extensions import db
from ..models import Job, Setting
from ..timeutil import parse_utc, utcnow

bp = Blueprint("ops", __name__, url_prefix=None)

BROKER_TIMEOUT_SECONDS = 2


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


def check_database() -> dict:
    started = time.perf_counter()
    try:
        db.session.execute(sa.text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any failure means "down"; details go to the log only
        db.session.rollback()
        current_app.logger.warning("health: database check failed: %s: %s", type(exc).__name__, exc)
        return {"ok": False, "error": "database unreachable"}
    return {"ok": True, "latency_ms": _ms_since(started)}


def check_broker() -> dict:
    """Redis (or any kombu URL): connect once with a short timeout; filesystem: can we write?"""
    url: str = current_app.config["CELERY_BROKER_URL"]
    transport = url.split("://", 1)[0]
    started = time.perf_counter()
    try:
        if transport == "filesystem":
            folder = Path(current_app.config["CELERY_BROKER_DIR"])
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=folder, prefix=".healthz-"):
                pass
        else:
            from kombu import Connection
            with Connection(url, connect_timeout=BROKER_TIMEOUT_SECONDS) as conn:
                conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0,
                                       timeout=BROKER_TIMEOUT_SECONDS)
    except Exception as exc:  # noqa: BLE001 - unreachable, refused, unwritable: all "down"
        current_app.logger.warning("health: broker check failed: %s: %s", type(exc).__name__, exc)
        return {"ok": False, "transport": transport, "error": "broker unreachable"}
    return {"ok": True, "transport": transport, "latency_ms": _ms_since(started)}


def live_workers() -> int:
    """Workers whose liveness row (written every JOB_RECOVERY_SECONDS) is fresher than 3 ticks."""
    window = 3 * float(current_app.config["JOB_RECOVERY_SECONDS"])
    since = utcnow() - timedelta(seconds=window)
    count = 0
    rows = sa.select(Setting.value).where(Setting.key.startswith(WORKER_KEY_PREFIX))
    for value in db.session.scalars(rows):
        try:
            count += parse_utc(str(value)) >= since
        except ValueError:
            continue
    return count


def queue_depth() -> dict:
    rows = db.session.execute(sa.select(Job.status, sa.func.count()).where(
        Job.status.in_(("queued", "running"))).group_by(Job.status)).all()
    counts = {"queued": 0, "running": 0, **{status: n for status, n in rows}}
    return {**counts, "total": counts["queued"] + counts["running"]}


@bp.get("/healthz")
def healthz():
    database = check_database()
    broker = check_broker()
    body: dict = {"database": database, "broker": broker, "workers": None, "queue": None}
    reasons: list[str] = []
    if database["ok"]:
        try:
            body["workers"] = {"live": live_workers()}
            body["queue"] = queue_depth()
        except SQLAlchemyError:  # answers SELECT 1 but has no tables: nothing works either
            db.session.rollback()
            database.update(ok=False, error="database tables unreadable "
                                            "(not migrated? run `manage.py db upgrade`)")
            body["workers"] = body["queue"] = None
    if not database["ok"]:
        reasons.append(database["error"])
    elif body["workers"]["live"] == 0:
        reasons.append("no live worker: figures will not be computed")
    if not broker["ok"]:
        reasons.append("broker unreachable: new jobs cannot be queued")
    body["status"] = "down" if not database["ok"] else ("degraded" if reasons else "ok")
    body["reasons"] = reasons
    response = jsonify(body)
    response.status_code = 200 if database["ok"] else 503
    response.headers["Cache-Control"] = "no-store"
    return response
