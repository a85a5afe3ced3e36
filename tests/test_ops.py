"""GET /healthz: database, broker, live workers and queue depth; 200 / degraded / 503."""
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import timedelta

import pytest

from puzzle_platform import create_app
from puzzle_platform.cli.worker import _recovery_loop, report_alive, worker_key
from puzzle_platform.extensions import db
from puzzle_platform.jobs.queue import worker_id
from puzzle_platform.models import Job, Setting
from puzzle_platform.timeutil import iso, utcnow
from tests.helpers import REPO, make_app
from tests.services import pg_url, redis_url  # noqa: F401  (fixtures)

DEAD_DATABASE = "postgresql+psycopg://x:hunter2secret@127.0.0.1:1/x"
DEAD_BROKER = "redis://:brokerpass@127.0.0.1:1/0"


def test_healthz_degraded_without_a_live_worker(client):
    r = client.get("/healthz")
    assert r.status_code == 200 and r.mimetype == "application/json"
    body = r.get_json()
    assert body["status"] == "degraded"
    assert body["reasons"] == ["no live worker: figures will not be computed"]
    assert body["database"]["ok"] is True and body["database"]["latency_ms"] >= 0
    assert body["broker"] == {"ok": True, "transport": "filesystem", "latency_ms": body["broker"]["latency_ms"]}
    assert body["workers"] == {"live": 0}
    assert body["queue"] == {"queued": 0, "running": 0, "total": 0}
    assert r.headers["Cache-Control"] == "no-store"


def test_healthz_ok_with_a_live_worker_and_counts_the_queue(app, client):
    with app.app_context():
        report_alive()  # what `manage.py worker` does at start and every JOB_RECOVERY_SECONDS
        window = 3 * app.config["JOB_RECOVERY_SECONDS"]
        Setting.put("worker:gone-host:1", iso(utcnow() - timedelta(seconds=window + 5)))
        for status in ("queued", "queued", "running", "succeeded", "failed"):
            db.session.add(Job(kind="figure", status=status))
        db.session.commit()
    body = client.get("/healthz").get_json()
    assert body["status"] == "ok" and body["reasons"] == []
    assert body["workers"] == {"live": 1}  # the stale row is not counted
    assert body["queue"] == {"queued": 2, "running": 1, "total": 3}


def test_recovery_loop_reports_the_worker_alive(app, client):
    stop = threading.Event()
    thread = threading.Thread(target=_recovery_loop, args=(app, 0.05, stop), daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while client.get("/healthz").get_json()["workers"]["live"] == 0:
            assert time.monotonic() < deadline, "the recovery loop never reported the worker"
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(5)
    with app.app_context():
        assert Setting.get(worker_key(worker_id())) is not None


def test_report_alive_forgets_workers_silent_for_a_day(app):
    with app.app_context():
        Setting.put("worker:old-host:7", iso(utcnow() - timedelta(days=2)))
        Setting.put("worker:garbage", "not a time")
        Setting.put("leaderboard_private", True)  # other settings are never touched
        db.session.commit()
        report_alive()
        assert Setting.get("worker:old-host:7") is None and Setting.get("worker:garbage") is None
        assert Setting.get("leaderboard_private") is True
        assert Setting.get(worker_key(worker_id())) is not None


def test_worker_key_fits_the_settings_column():
    assert worker_key("host:12") == "worker:host:12"
    long_key = worker_key("h" * 300 + ":12")
    assert long_key.startswith("worker:") and len(long_key) <= 64
    assert long_key != worker_key("h" * 300 + ":13")


def test_healthz_degraded_when_the_broker_is_down(tmp_path, template_db):
    app = make_app(tmp_path, template_db, CELERY_BROKER_URL=DEAD_BROKER)
    with app.app_context():
        report_alive()
    started = time.monotonic()
    r = app.test_client().get("/healthz")
    assert time.monotonic() - started < 10
    body = r.get_json()
    assert r.status_code == 200 and body["status"] == "degraded"
    assert body["broker"] == {"ok": False, "transport": "redis", "error": "broker unreachable"}
    assert body["reasons"] == ["broker unreachable: new jobs cannot be queued"]
    assert "brokerpass" not in r.get_data(as_text=True) and "127.0.0.1" not in r.get_data(as_text=True)


def test_healthz_degraded_when_the_filesystem_broker_is_not_writable(tmp_path, template_db):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    app = make_app(tmp_path, template_db, CELERY_BROKER_DIR=str(blocker / "broker"))
    body = app.test_client().get("/healthz").get_json()
    assert body["broker"]["ok"] is False and body["status"] == "degraded"


def test_healthz_503_when_the_database_is_down(tmp_path, template_db):
    app = make_app(tmp_path, template_db, SQLALCHEMY_DATABASE_URI=DEAD_DATABASE)
    r = app.test_client().get("/healthz")
    assert r.status_code == 503 and r.mimetype == "application/json"
    body = r.get_json()
    assert body["status"] == "down" and body["database"] == {"ok": False, "error": "database unreachable"}
    assert body["workers"] is None and body["queue"] is None
    assert body["broker"]["ok"] is True
    assert "database unreachable" in body["reasons"]
    text = r.get_data(as_text=True)
    assert "hunter2secret" not in text and "psycopg" not in text and "127.0.0.1" not in text


def test_healthz_is_public_and_get_only(client):
    assert client.get("/healthz").status_code == 200  # anonymous: load balancers do not log in
    r = client.post("/healthz", headers={"Accept": "application/json"})
    assert r.status_code == 405 and r.headers["Allow"]


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_a_real_worker_process_is_counted_and_forgotten_on_clean_exit(app, client, tmp_path):
    """`manage.py worker` reports itself at start-up and removes its row when stopped."""
    env = {**os.environ, "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
           "PUZZLES_INSTANCE": app.instance_path, "CELERY_BROKER_URL": "filesystem://localhost/",
           "CELERY_BROKER_DIR": app.config["CELERY_BROKER_DIR"], "SECRET_KEY": "test-secret"}
    env.pop("PUZZLES_PRODUCTION", None)
    log = (tmp_path / "worker.log").open("w+")
    proc = subprocess.Popen([sys.executable, str(REPO / "manage.py"), "worker", "--pool", "solo",
                             "--loglevel", "INFO"], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        _wait(lambda: client.get("/healthz").get_json()["workers"]["live"] == 1, 60, "the worker to report")
        assert client.get("/healthz").get_json()["status"] == "ok"
        # Celery handles SIGTERM (a clean, warm shutdown) once it is ready; before that the
        # signal kills the process and the row would only age out.
        _wait(lambda: " ready." in (tmp_path / "worker.log").read_text(), 60, "Celery to be ready")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    assert client.get("/healthz").get_json()["workers"]["live"] == 0, (tmp_path / "worker.log").read_text()
    with app.app_context():
        assert Setting.get(worker_key(f"{socket.gethostname()}:{proc.pid}")) is None


@pytest.mark.services
def test_healthz_ok_on_postgresql_and_redis(tmp_path, pg_url, redis_url):  # noqa: F811
    from flask_migrate import upgrade

    app = create_app({"SECRET_KEY": "s", "INSTANCE_PATH": str(tmp_path / "pg"), "PUZZLES_PRODUCTION": "1",
                      "SQLALCHEMY_DATABASE_URI": pg_url, "CELERY_BROKER_URL": redis_url})
    try:
        with app.app_context():
            upgrade()
            report_alive()
            # A very long host name still fits PostgreSQL's VARCHAR(64) key.
            Setting.put(worker_key("h" * 300 + ":1"), iso(utcnow()))
            db.session.commit()
        r = app.test_client().get("/healthz")
        body = r.get_json()
        assert r.status_code == 200 and body["status"] == "ok", body
        assert body["broker"]["transport"] == "redis" and body["workers"] == {"live": 2}
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
