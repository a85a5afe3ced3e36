"""Running one job: claim it, heartbeat while it runs, store the artifact, or retry/fail.

Used by the Celery task and by `puzzles compute --inline`. torch is imported only when a
job actually runs (through the worker package), never when this module is imported, so the
worker's parent process does not initialise CUDA before forking.
"""
from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app

from ..grading.artifacts import store_artifact
from ..extensions import db
from ..models import Job
from ..timeutil import utcnow
from .queue import send, worker_id

log = logging.getLogger(__name__)
PERMANENT = ("RecipeError", "ModelUnavailable", "ValueError")


def claim(job_id: int, me: str) -> bool:
    """Atomically take a queued, due job; False if another worker has it or it is finished."""
    now = utcnow()
    with db.engine.begin() as conn:
        res = conn.execute(
            sa.update(Job.__table__).where(
                Job.__table__.c.id == job_id, Job.__table__.c.status == "queued",
                sa.or_(Job.__table__.c.not_before.is_(None), Job.__table__.c.not_before <= now),
            ).values(status="running", worker=me, attempts=Job.__table__.c.attempts + 1,
                     started_at=now, heartbeat_at=now,
                     progress=0, stage="starting", error=None))
    return res.rowcount == 1


class Heartbeat:
    """Keeps heartbeat_at fresh from a thread, and writes progress; own connection each time."""

    def __init__(self, job_id: int, me: str, every: float):
        self.job_id, self.me, self.every = job_id, me, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name=f"heartbeat-{job_id}")
        self._last_progress = 0.0
        self._engine = db.engine

    def _update(self, **values) -> None:
        table = Job.__table__
        with self._engine.begin() as conn:
            conn.execute(sa.update(table).where(table.c.id == self.job_id, table.c.worker == self.me)
                         .values(heartbeat_at=utcnow(), **values))

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self._update()
            except Exception:  # noqa: BLE001 - a missed beat is retried on the next tick
                log.warning("heartbeat for job %s failed", self.job_id, exc_info=True)

    def progress(self, pct: int, stage: str) -> None:
        now = time.monotonic()
        if now - self._last_progress < 0.5 and pct < 100:
            return
        self._last_progress = now
        self._update(progress=max(0, min(100, int(pct))), stage=stage[:200])

    def __enter__(self) -> "Heartbeat":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def _compute(job: Job, beat: Heartbeat) -> dict:
    from ..worker.run_recipe import run_recipe  # torch lives behind this import
    return run_recipe(job.params["recipe"], job.params.get("params", {}), progress=beat.progress)


def execute_job(job_id: int) -> str:
    """Run job `job_id` if it is ours to run; returns what happened (for logs and tests)."""
    me = worker_id()
    if not claim(job_id, me):
        return "skipped"
    job = db.session.get(Job, job_id)
    db.session.refresh(job)
    every = float(current_app.config.get("JOB_HEARTBEAT_SECONDS", 5))
    try:
        with Heartbeat(job_id, me, every) as beat:
            result = _compute(job, beat)
            beat.progress(98, "storing the artifact and grading")
        artifact, report = store_artifact(
            job.puzzle_id, job.figure_key, statistics=result["statistics"], figure=result.get("figure"),
            provenance=result.get("provenance", {}), recipe=job.params["recipe"],
            params=job.params.get("params", {}), job_id=job.id)
    except Exception as exc:  # noqa: BLE001 - every failure is recorded on the job
        db.session.rollback()
        return _fail_or_retry(job_id, exc)
    job = db.session.get(Job, job_id)
    job.status, job.progress, job.finished_at = "succeeded", 100, utcnow()
    job.stage = f"done: artifact v{artifact.version}, {report.attempts} grade change(s)"
    job.artifact_id = artifact.id
    db.session.commit()
    return "succeeded"


def _fail_or_retry(job_id: int, exc: Exception) -> str:
    job = db.session.get(Job, job_id)
    db.session.refresh(job)
    message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    permanent = type(exc).__name__ in PERMANENT
    log.warning("job %s attempt %s failed: %s", job_id, job.attempts, message, exc_info=not permanent)
    if permanent or job.attempts >= job.max_attempts:
        job.status, job.finished_at, job.stage = "failed", utcnow(), "failed"
        tries = "" if permanent else f" (after {job.attempts} attempts)"
        job.error = f"{message}{tries}"
        db.session.commit()
        return "failed"
    delay = min(600, 10 * 2 ** (job.attempts - 1))
    job.status, job.worker = "queued", None
    job.not_before = utcnow() + timedelta(seconds=delay)
    job.stage = f"retrying in {delay} s after: {message}"[:200]
    job.error = message
    db.session.commit()
    send(job, countdown=delay)
    return "retrying"
