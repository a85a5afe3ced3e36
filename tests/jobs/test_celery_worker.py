"""Jobs through a real Celery worker: in-process on the in-memory broker, and on Redis (CI)."""
from __future__ import annotations

import time

import pytest
import sqlalchemy as sa
from celery.contrib.testing.worker import start_worker

from puzzle_platform.extensions import db
from puzzle_platform.jobs.queue import enqueue_puzzle
from puzzle_platform.jobs.tasks import make_worker_celery
from puzzle_platform.models import Job, Puzzle, Submission
from tests.helpers import csrf_token
from tests.services import redis_url  # noqa: F401  (fixture)


def _wait_for_jobs(app, timeout=120.0):
    deadline = time.monotonic() + timeout
    seen_running = False
    while time.monotonic() < deadline:
        with app.app_context():
            jobs = db.session.scalars(sa.select(Job)).all()
            seen_running |= any(j.status == "running" for j in jobs)
            if jobs and all(j.status in ("succeeded", "failed") for j in jobs):
                return jobs
        time.sleep(0.1)
    raise AssertionError("jobs did not finish")


def _run_through_worker(app, client, auth):
    auth.register("sam")
    client.post("/puzzles/embeddings/questions/gpt2_mean", data={"csrf_token": csrf_token(client), "value": "0.1"})
    celery = make_worker_celery(app)  # the app's Celery, with the task registered
    with start_worker(celery, pool="solo", perform_ping_check=False, shutdown_timeout=30):
        with app.app_context():
            enqueue_puzzle(db.session.scalar(sa.select(Puzzle)))
        # the page shows progress while the figure is being computed
        progress = client.get("/puzzles/embeddings/progress.json").get_json()
        assert all(f["job"] is not None for f in progress["figures"])
        jobs = _wait_for_jobs(app)
    assert [j.status for j in jobs] == ["succeeded", "succeeded"], [j.error for j in jobs]
    with app.app_context():
        sub = db.session.scalar(sa.select(Submission).where(Submission.status != "rejected"))
        assert sub.status == "graded"


def test_in_process_worker_on_memory_broker(app, client, auth, embeddings_puzzle):
    app.config["CELERY_BROKER_URL"] = "memory://"
    _run_through_worker(app, client, auth)


@pytest.mark.services
def test_worker_on_redis_broker(app, client, auth, embeddings_puzzle, redis_url):  # noqa: F811
    import redis

    redis.Redis.from_url(redis_url).flushdb()
    app.config["CELERY_BROKER_URL"] = redis_url
    _run_through_worker(app, client, auth)


def test_job_modules_import_one_way():
    """tasks -> runner -> queue -> celery_app: sending a job never imports the task or runner."""
    import subprocess
    import sys

    code = ("import sys, puzzle_platform.jobs.celery_app, puzzle_platform.jobs.queue; "
            "print(sorted(m for m in sys.modules if m.startswith('puzzle_platform.jobs.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['puzzle_platform.jobs.celery_app', 'puzzle_platform.jobs.queue']"
