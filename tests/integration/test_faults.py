"""Faults in the production shape: a worker killed mid-job, the web tier restarted under
load, the Redis broker restarted mid-job, PostgreSQL connections dropped under load.

Each fault is injected while work is in flight (the Job table or the submissions log says
so), and each test then checks the promise: the job completes (or fails visibly), no accepted
submission is lost or doubled, errors have the platform's shape, and the system recovers.
"""
from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
import redis
import sqlalchemy as sa

from bench.load_test import Scholar, Server, free_port, run_load, verify
from puzzle_platform.extensions import db
from puzzle_platform.jobs.queue import enqueue_figure, enqueue_puzzle
from puzzle_platform.models import Puzzle, Submission
from tests.helpers import csrf_token
from tests.integration.conftest import (mid_histogram, redis_server_available, terminate_backends,
                                        wait_for, wide_puzzle)

pytestmark = [pytest.mark.services, pytest.mark.slow]
DONE = ("succeeded", "failed")


def _pending_answer(app, client, auth) -> None:
    auth.register("kim")
    r = client.post("/puzzles/slow/questions/q", data={"csrf_token": csrf_token(client, "/puzzles/slow"),
                                                        "value": "0.1"})
    assert r.status_code == 303


def _submission_status(app) -> str:
    with app.app_context():
        db.session.expire_all()
        return db.session.scalar(sa.select(Submission.status))


def test_kill_9_worker_mid_job_another_worker_completes_it(
        app, client, auth, puzzles_dir, sync, wide_model, broker_url, workers):
    wide_puzzle(puzzles_dir, wide_model)
    sync()
    _pending_answer(app, client, auth)
    pool = [workers.start(broker_url), workers.start(broker_url)]
    app.config["CELERY_BROKER_URL"] = broker_url
    with app.app_context():
        enqueue_puzzle(db.session.scalar(sa.select(Puzzle)))

    [job] = wait_for(app, lambda js: mid_histogram(js[0]), 120, "the job to be mid-histogram", workers.logs)
    victim = workers.owner_of(job)
    survivor = next(p for p in pool if p is not victim)
    workers.kill(victim)  # kill -9 of the worker's whole process group: parent and pool child

    [job] = wait_for(app, lambda js: js[0].status in DONE, 150, "the job to finish", workers.logs)
    assert job.status == "succeeded", job.error
    assert job.attempts == 2 and job.artifact_id is not None
    assert workers.owner_of(job) is survivor and survivor.poll() is None
    assert _submission_status(app) == "graded"


def _wait_rows(database_url: str, at_least: int, timeout: float = 60) -> None:
    engine = sa.create_engine(database_url)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                if conn.execute(sa.select(sa.func.count()).select_from(Submission.__table__)).scalar() >= at_least:
                    return
            time.sleep(0.05)
    finally:
        engine.dispose()
    raise AssertionError(f"fewer than {at_least} submissions after {timeout:g} s")


def _load_in_background(url: str, clients: int, per_client: int) -> tuple[threading.Thread, dict]:
    out: dict = {}
    thread = threading.Thread(target=lambda: out.update(report=run_load(url, clients, per_client)), daemon=True)
    thread.start()
    return thread, out


def test_web_tier_restart_during_load_loses_and_doubles_nothing(db_url, tmp_path):
    server = Server("gunicorn", db_url, tmp_path, workers=2).prepare().start()
    try:
        thread, out = _load_in_background(server.url, clients=4, per_client=60)
        _wait_rows(db_url, 30)
        server.reload()                          # SIGHUP: graceful, new workers
        _wait_rows(db_url, 80)
        first_pid = server.proc.pid
        server.restart()                         # SIGTERM the master, start a new one
        assert server.proc.pid != first_pid
        _wait_rows(db_url, 140)
        server.restart(signal.SIGKILL)           # kill -9 master and workers mid-request, restart
        thread.join(timeout=120)
        assert not thread.is_alive(), "the load did not finish"
    finally:
        server.stop()
    report = out["report"]
    check = verify(db_url, report)
    assert check["lost"] == [] and check["doubled"] == []
    assert [r for r in report.results if not r.accepted] == []  # every one got in, some by retrying
    assert sum(r.retries for r in report.results) > 0  # the restarts did hit requests in flight


def _redis(port: int, log: Path) -> subprocess.Popen:
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--daemonize", "no"],
                            stdout=log.open("a"), stderr=subprocess.STDOUT, start_new_session=True)
    client = redis.Redis(port=port, socket_connect_timeout=0.5)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if client.ping():
                return proc
        except redis.ConnectionError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError(f"redis-server on port {port} did not start: {log.read_text()[-500:]}")


def test_redis_restart_mid_job_job_finishes_and_worker_reconnects(
        app, puzzles_dir, sync, wide_model, tiny_model_dirs, workers, tmp_path):
    redis_server_available()
    port = free_port()  # our own server: never restart the shared one
    broker = f"redis://127.0.0.1:{port}/0"
    server = _redis(port, tmp_path / "redis.log")
    try:
        wide_puzzle(puzzles_dir, wide_model, tiny_model_dirs["gpt2"])
        sync()
        workers.start(broker)
        app.config["CELERY_BROKER_URL"] = broker
        with app.app_context():
            puzzle = db.session.scalar(sa.select(Puzzle))
            enqueue_figure(puzzle, next(f for f in puzzle.figures if f.key == "wide"))
        wait_for(app, lambda js: mid_histogram(js[0]), 120, "the job to be mid-histogram", workers.logs)

        os.killpg(server.pid, signal.SIGKILL)  # the broker dies with its queue (no persistence)
        server.wait(timeout=10)
        server = _redis(port, tmp_path / "redis.log")

        [job] = wait_for(app, lambda js: js[0].status in DONE, 150, "the job to finish", workers.logs)
        assert job.status == "succeeded", job.error
        # the worker reconnected: a job sent through the new broker runs too
        with app.app_context():
            puzzle = db.session.scalar(sa.select(Puzzle))
            enqueue_figure(puzzle, next(f for f in puzzle.figures if f.key == "tiny"))
        rows = wait_for(app, lambda js: len(js) == 2 and js[1].status in DONE, 120,
                        "a job sent after the restart", workers.logs)
        assert rows[1].status == "succeeded", rows[1].error
    finally:
        try:
            os.killpg(server.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        server.wait(timeout=10)


def test_dropped_postgres_connections_fail_cleanly_and_pool_recovers(db_url, app_name, tmp_path):
    server = Server("gunicorn", db_url, tmp_path, workers=2).prepare().start()
    try:
        thread, out = _load_in_background(server.url, clients=4, per_client=60)
        _wait_rows(db_url, 20)
        killed, rounds = 0, 0
        while thread.is_alive() and rounds < 100:  # drop all our connections, again and again
            killed += terminate_backends(app_name)
            rounds += 1
            time.sleep(0.15)
        thread.join(timeout=120)
        assert not thread.is_alive(), "requests hung after the connections were dropped"
        assert killed > 0

        report = out["report"]
        assert {r.status for r in report.results} <= {303, 500}, {r.status for r in report.results}
        assert [r.error for r in report.results if r.status == 500 and not r.error.startswith("error page")] == []
        check = verify(db_url, report)
        assert check["lost"] == [] and check["doubled"] == []

        # idle pooled connections are dead too now: pool_pre_ping replaces them, all succeed
        terminate_backends(app_name)
        scholar = Scholar(server.url, 99)
        scholar.sign_in()
        after = [scholar.submit("load-test", "q1", str(10**12 + i)) for i in range(12)]
        assert [r.status for r in after] == [303] * 12
    finally:
        server.stop()
