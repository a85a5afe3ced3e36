"""Workers stop when told: SIGTERM, SIGINT or SIGHUP to the process group of `manage.py run`
or of `manage.py worker`, at start-up or mid-job, leaves no process behind after 20 s and no
job stuck 'running' (it is requeued, or it finished).

Real processes on the filesystem broker. The job is made slow by the runner's test hook
(PUZZLES_TEST_JOB_SLEEP: the job waits, reporting progress, before computing on a tiny
model), and WORKER_SHUTDOWN_SECONDS is short, so a mid-job stop takes the cold path.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager

import pytest
import sqlalchemy as sa

from puzzle_platform.cli.worker import worker_key
from puzzle_platform.extensions import db
from puzzle_platform.jobs.queue import enqueue_puzzle
from puzzle_platform.jobs.runner import TEST_SLEEP_ENV
from puzzle_platform.models import Job, Puzzle, Setting
from tests.helpers import (REPO, WORKER_TEST_ENV, descendants, figure_toml,
                           live_group_members, process_groups_of, question_toml, start_worker_process, write_puzzle)

SIGNALS = [signal.SIGTERM, signal.SIGINT, signal.SIGHUP]
WHEN = ["start-up", "mid-job"]
GONE_WITHIN = 20.0


@pytest.fixture(autouse=True)
def signals_not_ignored():
    """Our processes keep a stop signal ignored when they start ignored (nohup, a shell's
    background job); so that they get these signals, pytest must not pass an ignore on. A
    Python handler here becomes the default action in a child after exec."""
    ignored = [sig for sig in SIGNALS if signal.getsignal(sig) is signal.SIG_IGN]
    for sig in ignored:
        signal.signal(sig, lambda *_: None)
    yield
    for sig in ignored:
        signal.signal(sig, signal.SIG_IGN)


@pytest.fixture
def tiny_puzzle(app, puzzles_dir, sync, tiny_model_dirs, tmp_path):
    figures = figure_toml("tiny", "Tiny", model=tiny_model_dirs["gpt2"], weights="raw", device="cpu", bins=20)
    questions = question_toml("q", "Predict it.", mode="challenge", grader="abs_tol",
                              grader_params={"tolerance": 1.0}, statistic="tiny.mean_cos")
    write_puzzle(puzzles_dir, slug="tiny", figures=figures, questions=questions)
    sync()
    app.config.update(CELERY_BROKER_URL="filesystem://", CELERY_BROKER_DIR=str(tmp_path / "broker"))
    return app


def _env(app) -> dict[str, str]:
    return {"CELERY_BROKER_URL": "filesystem://", "CELERY_BROKER_DIR": app.config["CELERY_BROKER_DIR"],
            "WORKER_SHUTDOWN_SECONDS": "1.5", TEST_SLEEP_ENV: "60"}


def _wait(predicate, timeout: float, what: str, log) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}:\n{log.read_text()[-3000:]}"
        time.sleep(0.05)


def _job(app) -> Job | None:
    with app.app_context():
        job = db.session.scalar(sa.select(Job))
        if job is not None:
            db.session.expunge(job)
        return job


def _sleeping_job(app) -> bool:
    job = _job(app)
    return job is not None and job.status == "running" and TEST_SLEEP_ENV in job.stage


@contextmanager
def _reaped(proc: subprocess.Popen):
    """Yields a set to record process groups in; whatever happens, SIGKILL them at the end."""
    groups: set[int] = set()
    try:
        yield groups
    finally:
        if proc.poll() is None:
            groups |= process_groups_of(proc.pid)
        for group in groups | {proc.pid}:
            try:
                os.killpg(group, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.wait(timeout=10)


def _signal_and_expect_all_gone(proc: subprocess.Popen, sig: signal.Signals, log, groups: set[int]) -> None:
    """Signal the group of `proc` (as a terminal or a supervisor does); every process of it
    and of its descendants' groups (the worker's own) must be gone in time."""
    groups |= process_groups_of(proc.pid)
    start = time.monotonic()
    os.killpg(proc.pid, sig)
    try:
        proc.wait(timeout=GONE_WITHIN)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{sig.name}: the process did not exit:\n{log.read_text()[-3000:]}")
    while (left := live_group_members(groups)) and time.monotonic() - start < GONE_WITHIN:
        time.sleep(0.1)
    assert left == [], f"{sig.name}: processes left behind {left}:\n{log.read_text()[-3000:]}"


def _assert_not_stuck(app, log) -> None:
    job = _job(app)
    assert job.status in ("queued", "succeeded"), f"{job.status} {job.stage}:\n{log.read_text()[-3000:]}"
    if job.status == "queued":
        assert job.worker is None and "requeued" in job.stage


@pytest.mark.parametrize("when", WHEN)
@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
def test_worker_stops_on_signal_to_its_group(tiny_puzzle, tmp_path, sig, when):
    app = tiny_puzzle
    if when == "mid-job":
        with app.app_context():
            enqueue_puzzle(db.session.scalar(sa.select(Puzzle)))
    log = tmp_path / "worker.log"
    proc = start_worker_process(app, tmp_path / "instance", log, **_env(app))
    with _reaped(proc) as groups:
        if when == "start-up":  # our code runs; Celery is still booting
            key = worker_key(f"{socket.gethostname()}:{proc.pid}")

            def reported() -> bool:
                with app.app_context():
                    return Setting.get(key) is not None
            _wait(reported, 60, "the worker to report itself", log)
        else:
            _wait(lambda: _sleeping_job(app), 60, "the job to run", log)
        _signal_and_expect_all_gone(proc, sig, log, groups)
    if when == "mid-job":
        _assert_not_stuck(app, log)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_server(app, log) -> subprocess.Popen:
    """`manage.py run --no-setup` (it queues the puzzle's missing figure and starts its local
    worker), in its own process group as a terminal would run it."""
    cfg = app.config
    env = {**os.environ, **WORKER_TEST_ENV, **_env(app), "DATABASE_URL": cfg["SQLALCHEMY_DATABASE_URI"],
           "PUZZLES_INSTANCE": app.instance_path, "PUZZLES_DIR": cfg["PUZZLES_DIR"]}
    return subprocess.Popen([sys.executable, str(REPO / "manage.py"), "run", "--no-setup",
                             "--port", str(_free_port())], cwd=REPO, env=env, stdout=log.open("w"),
                            stderr=subprocess.STDOUT, start_new_session=True)


@pytest.mark.parametrize("when", WHEN)
@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
def test_server_stops_its_worker_on_signal_to_its_group(tiny_puzzle, tmp_path, sig, when):
    app = tiny_puzzle
    log = tmp_path / "server.log"
    proc = _start_server(app, log)
    with _reaped(proc) as groups:
        if when == "start-up":  # the worker was just started: it is still booting
            _wait(lambda: descendants(proc.pid), 60, "the server to start its worker", log)
        else:
            _wait(lambda: _sleeping_job(app), 60, "the job to run", log)
        _signal_and_expect_all_gone(proc, sig, log, groups)
    if when == "mid-job":
        _assert_not_stuck(app, log)


def test_worker_of_a_server_killed_with_sigkill_stops_by_itself(tiny_puzzle, tmp_path):
    """No cleanup runs in a server killed with SIGKILL: its worker notices that its parent is
    gone and stops (requeueing its job) rather than live on as an orphan holding the database."""
    app = tiny_puzzle
    log = tmp_path / "server.log"
    proc = _start_server(app, log)
    with _reaped(proc) as groups:
        _wait(lambda: _sleeping_job(app), 60, "the job to run", log)
        groups |= process_groups_of(proc.pid)
        proc.kill()
        proc.wait(timeout=10)
        deadline = time.monotonic() + GONE_WITHIN
        while (left := live_group_members(groups)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert left == [], f"processes left behind {left}:\n{log.read_text()[-3000:]}"
    _assert_not_stuck(app, log)
