"""Running one job: claim it, heartbeat while it runs, store the artifact, or retry/fail.

Used by the Celery task and by `puzzles compute --inline`. torch is imported only when a
job actually runs (through the worker package), never when this module is imported, so the
worker's parent process does not initialise CUDA before forking.

A job has one owner. Every write is a conditional UPDATE on (status 'running', worker = me);
when one matches no row, the job was taken from us (recovery requeued it after a stale
heartbeat, another worker claimed it since, or a puzzle sync superseded it): we stop
computing, write nothing more and discard the result, so two workers never both record it.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app

from ..extensions import db
from ..grading.artifacts import store_artifact
from ..grading.locks import lock_puzzles
from ..models import Job
from ..timeutil import utcnow
from .queue import send, supersede_if_stale, worker_id

log = logging.getLogger(__name__)
PERMANENT = ("RecipeError", "ModelUnavailable", "ValueError")
# Test hook, unset in real use: seconds every job waits (reporting progress) before computing,
# so that tests can stop a worker mid-job without a big model (tests/jobs/test_shutdown.py).
TEST_SLEEP_ENV = "PUZZLES_TEST_JOB_SLEEP"


class JobLost(Exception):
    """The job is no longer ours; raised by the progress callback to stop the computation."""


def claim(job_id: int, me: str) -> bool:
    """Atomically take a queued, due job; False if another worker has it or it is finished."""
    now = utcnow()
    table = Job.__table__
    with db.engine.begin() as conn:
        res = conn.execute(
            sa.update(table).where(
                table.c.id == job_id, table.c.status == "queued",
                sa.or_(table.c.not_before.is_(None), table.c.not_before <= now),
            ).values(status="running", worker=me, attempts=table.c.attempts + 1,
                     started_at=now, heartbeat_at=now,
                     progress=0, stage="starting", error=None))
    return res.rowcount == 1


def _owned(job_id: int, me: str) -> tuple:
    """WHERE clauses: the job is still running, and still on this worker."""
    table = Job.__table__
    return table.c.id == job_id, table.c.status == "running", table.c.worker == me


def lost_to(job_id: int) -> tuple[str, str]:
    """(status, who has the job now) for the log line of a worker that lost it."""
    row = db.session.execute(sa.select(Job.status, Job.worker).where(Job.id == job_id)).first()
    if row is None:
        return "gone", "nobody (the job was deleted)"
    status, worker = row
    who = {"superseded": "a puzzle sync (superseded: the figure's params changed)",
           "running": f"worker {worker}", "queued": "recovery (requeued as stale)"}.get(status, status)
    return status, who


class Heartbeat:
    """Keeps heartbeat_at fresh from a thread, and writes progress; own connection each time.

    Each write is conditional on the job still being ours; the first that matches no row sets
    `lost`, which stops the beats and makes progress() raise JobLost.
    """

    def __init__(self, job_id: int, me: str, every: float):
        self.job_id, self.me, self.every = job_id, me, every
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name=f"heartbeat-{job_id}")
        self._last_progress = 0.0
        self._engine = db.engine

    def _update(self, **values) -> bool:
        if self.lost.is_set():
            return False
        with self._engine.begin() as conn:
            res = conn.execute(sa.update(Job.__table__).where(*_owned(self.job_id, self.me))
                               .values(heartbeat_at=utcnow(), **values))
        if res.rowcount != 1:
            self.lost.set()
            return False
        return True

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            try:
                if not self._update():
                    log.info("job %s is no longer ours (%s); stopping its heartbeat", self.job_id, self.me)
                    return
            except Exception:  # noqa: BLE001 - a missed beat is retried on the next tick
                log.warning("heartbeat for job %s failed", self.job_id, exc_info=True)

    def progress(self, pct: int, stage: str) -> None:
        """The recipe's progress callback; raises JobLost once the job is not ours."""
        if self.lost.is_set():
            raise JobLost(self.job_id)
        now = time.monotonic()
        if now - self._last_progress < 0.5 and pct < 100:
            return
        self._last_progress = now
        if not self._update(progress=max(0, min(100, int(pct))), stage=stage[:200]):
            raise JobLost(self.job_id)

    def __enter__(self) -> "Heartbeat":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def _test_sleep(beat: Heartbeat) -> None:
    """The TEST_SLEEP_ENV hook; progress keeps being reported, so a lost job stops here too."""
    seconds = float(os.environ.get(TEST_SLEEP_ENV) or 0)
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        beat.progress(1, f"{TEST_SLEEP_ENV}: waiting")
        time.sleep(min(0.1, left))


def _compute(job: Job, beat: Heartbeat) -> dict:
    from ..worker.run_recipe import run_recipe  # torch lives behind this import
    _test_sleep(beat)
    return run_recipe(job.params["recipe"], job.params.get("params", {}), progress=beat.progress,
                      puzzles_dir=current_app.config["PUZZLES_DIR"])  # for puzzle-local recipes


def execute_job(job_id: int, me: str | None = None) -> str:
    """Run job `job_id` if it is ours to run, as worker `me` (default: this process).

    Returns what happened, for logs and tests: succeeded, failed, retrying, skipped (not
    queued or not due), superseded (its figure's params changed) or lost (taken from us while
    it ran; nothing was recorded).
    """
    me = me or worker_id()
    if supersede_if_stale(job_id):
        log.info("job %s superseded at claim: its figure's params changed", job_id)
        return "superseded"
    if not claim(job_id, me):
        status = db.session.scalar(sa.select(Job.status).where(Job.id == job_id))
        return "superseded" if status == "superseded" else "skipped"
    job = db.session.get(Job, job_id, populate_existing=True)
    db.session.expunge(job)  # stays readable, detached, while no transaction is held for the
    db.session.rollback()    # minutes of computing
    every = float(current_app.config.get("JOB_HEARTBEAT_SECONDS", 5))
    try:
        with Heartbeat(job_id, me, every) as beat:
            result = _compute(job, beat)
            beat.progress(98, "storing the artifact and grading")
        outcome = _succeed(job, me, result)
        _report_models()
        return outcome
    except JobLost:
        db.session.rollback()
        return _discard(job_id)
    except Exception as exc:  # noqa: BLE001 - every failure is recorded on the job (if still ours)
        db.session.rollback()
        return _fail_or_retry(job_id, me, exc)


def _report_models() -> None:
    """The job may have downloaded a model: tell the authoring form (jobs/worker_models.py)."""
    from .worker_models import report_after_job
    try:
        report_after_job()
        db.session.commit()
    except Exception:  # noqa: BLE001 - the job is done; the worker's next report catches up
        db.session.rollback()
        log.warning("reporting the models held failed", exc_info=True)


def _succeed(job: Job, me: str, result: dict) -> str:
    """Mark the job succeeded and store its artifact in one transaction, only if it is ours.

    The puzzle (with its questions) is locked before the job row: a sync that supersedes this
    job holds the puzzle and then updates the job, so this order cannot deadlock with it.
    """
    table = Job.__table__
    lock_puzzles([job.puzzle_id])
    res = db.session.execute(sa.update(table).where(*_owned(job.id, me)).values(
        status="succeeded", progress=100, finished_at=utcnow(), stage="done: storing the artifact"))
    if res.rowcount != 1:
        db.session.rollback()
        return _discard(job.id)
    artifact, report = store_artifact(
        job.puzzle_id, job.figure_key, statistics=result["statistics"], figure=result.get("figure"),
        provenance=result.get("provenance", {}), recipe=job.params["recipe"],
        params=job.params.get("params", {}), job_id=job.id)
    db.session.execute(sa.update(table).where(table.c.id == job.id).values(
        artifact_id=artifact.id, stage=f"done: artifact v{artifact.version}, {report.attempts} grade change(s)"))
    db.session.commit()
    return "succeeded"


def _discard(job_id: int) -> str:
    status, who = lost_to(job_id)
    db.session.rollback()
    log.warning("job %s lost to %s; result discarded", job_id, who)
    return "superseded" if status == "superseded" else "lost"


def _fail_or_retry(job_id: int, me: str, exc: Exception) -> str:
    job = db.session.get(Job, job_id, populate_existing=True)
    if job is None:  # its draft was deleted while it ran: nothing to record
        db.session.rollback()
        return _discard(job_id)
    message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    permanent = type(exc).__name__ in PERMANENT
    log.warning("job %s attempt %s failed: %s", job_id, job.attempts, message, exc_info=not permanent)
    delay = min(600, 10 * 2 ** (job.attempts - 1))
    if permanent or job.attempts >= job.max_attempts:
        tries = "" if permanent else f" (after {job.attempts} attempts)"
        values = {"status": "failed", "finished_at": utcnow(), "stage": "failed", "error": f"{message}{tries}"}
    else:
        values = {"status": "queued", "worker": None, "not_before": utcnow() + timedelta(seconds=delay),
                  "stage": f"retrying in {delay} s after: {message}"[:200], "error": message}
    res = db.session.execute(sa.update(Job.__table__).where(*_owned(job_id, me)).values(**values))
    if res.rowcount != 1:
        db.session.rollback()
        return _discard(job_id)
    db.session.commit()
    if values["status"] == "failed":
        return "failed"
    send(job, countdown=delay)
    return "retrying"
