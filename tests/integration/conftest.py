"""Production-shaped fixtures: the app on PostgreSQL (a fresh schema per test, made by the
migrations), real `manage.py worker` processes on a Redis broker, and the web tier under
gunicorn (bench/load_test.py's Server, so the load test and these tests share one client).

The tests that need PostgreSQL or Redis are marked `services`: required in CI, skipped elsewhere.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path
from typing import Callable

import pytest
import sqlalchemy as sa

from puzzle_platform import create_app
from puzzle_platform.extensions import db
from puzzle_platform.models import Job
from tests.helpers import figure_toml, kill_group, question_toml, start_worker_process, write_puzzle
from tests.jobs.test_kill_worker import wide_model  # noqa: F401  (fixture: 40k tokens, seconds to compute)
from tests.services import PG_URL, missing, pg_url, redis_url  # noqa: F401  (fixtures)


@pytest.fixture
def app_name() -> str:
    """This test's PostgreSQL application_name: fault tests terminate only these connections."""
    return f"it_{uuid.uuid4().hex[:10]}"


@pytest.fixture
def db_url(pg_url, app_name) -> str:  # noqa: F811
    return f"{pg_url}&application_name={app_name}"


@pytest.fixture
def app(db_url, tmp_path, puzzles_dir):
    """Overrides the SQLite `app` of tests/conftest.py: client, auth, runner and sync follow."""
    from flask_migrate import upgrade

    app = create_app({
        "TESTING": True, "SECRET_KEY": "test-secret", "INSTANCE_PATH": str(tmp_path / "instance"),
        "SQLALCHEMY_DATABASE_URI": db_url, "PUZZLES_DIR": str(puzzles_dir),
        "WRONG_ANSWER_WAITS": (60, 300, 600),
    })
    with app.app_context():
        upgrade()
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def broker_url(redis_url) -> str:  # noqa: F811
    """Redis db 14 of the shared server: tests/jobs flushes db 15, which would drop our messages.
    Not flushed here: a stale message only names a job id, which a worker claims or skips."""
    return redis_url.rsplit("/", 1)[0] + "/14"


def terminate_backends(name: str) -> int:
    """pg_terminate_backend on this test's connections only (matched by application_name)."""
    engine = sa.create_engine(PG_URL)
    try:
        with engine.begin() as conn:
            return len(conn.execute(sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND application_name = :name"), {"name": name}).all())
    finally:
        engine.dispose()


class Workers:
    """`manage.py worker` subprocesses, each in its own process group (so kill -9 takes the
    pool child with it); every one is killed at teardown."""

    def __init__(self, app, tmp_path: Path):
        self.app, self.tmp_path, self.procs = app, tmp_path, []

    def start(self, broker: str, **env: str) -> subprocess.Popen:
        proc = start_worker_process(self.app, self.tmp_path / "instance",
                                    self.tmp_path / f"worker-{len(self.procs)}.log",
                                    CELERY_BROKER_URL=broker, **env)
        self.procs.append(proc)
        return proc

    kill = staticmethod(kill_group)

    def owner_of(self, job: Job) -> subprocess.Popen:
        """The worker whose pool child (named in job.worker as host:pid) runs `job`."""
        child = int(job.worker.rpartition(":")[2])
        for proc in self.procs:
            try:
                if os.getpgid(child) == proc.pid:
                    return proc
            except ProcessLookupError:
                break
        raise AssertionError(f"no worker of ours runs job {job.id} ({job.worker})")

    def logs(self) -> str:
        return "\n".join(p.read_text()[-3000:] for p in sorted(self.tmp_path.glob("worker-*.log")))

    def stop_all(self) -> None:
        for proc in self.procs:
            self.kill(proc)


@pytest.fixture
def workers(app, tmp_path):
    pool = Workers(app, tmp_path)
    yield pool
    pool.stop_all()


def jobs(app) -> list[Job]:
    with app.app_context():
        db.session.expire_all()
        return db.session.scalars(sa.select(Job).order_by(Job.id)).all()


def wait_for(app, predicate: Callable[[list[Job]], bool], timeout: float, what: str,
             logs: Callable[[], str] = lambda: "") -> list[Job]:
    """Poll the Job table (bounded) until predicate(jobs) holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = jobs(app)
        if rows and predicate(rows):
            return rows
        time.sleep(0.1)
    rows = jobs(app)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}: "
                         f"{[(j.id, j.status, j.stage, j.attempts, j.error) for j in rows]}\n{logs()}")


def mid_histogram(job: Job) -> bool:
    return job.status == "running" and "histogram" in job.stage and job.progress >= 10


def wide_puzzle(puzzles_dir: Path, wide: Path, tiny: Path | None = None) -> None:
    """A puzzle whose `wide` figure is slow to compute (and an optional quick `tiny` one)."""
    figures = "".join(figure_toml(key, key, model=path, weights="raw", device="cpu", bins=50)
                      for key, path in (("wide", wide), ("tiny", tiny)) if path is not None)
    write_puzzle(puzzles_dir, slug="slow", figures=figures, questions=question_toml(
        "q", "Predict the mean cosine.", mode="challenge", grader="abs_tol", grader_params={"tolerance": 1.0},
        statistic="wide.mean_cos"))


def redis_server_available() -> None:
    """The Redis restart test runs its own redis-server (never the shared one)."""
    if shutil.which("redis-server") is None:
        missing("redis-server is not installed")
