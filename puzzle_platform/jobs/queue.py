"""Creating, sending and recovering jobs. The Job row is the truth; a message only wakes a worker.

Safe to send a job twice: a worker claims it with a conditional UPDATE, so only one runs it.
A job whose worker died is found here (dead pid on this host, or a stale heartbeat) and sent
again, until its attempts run out.
"""
from __future__ import annotations

import logging
import os
import socket
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app

from ..extensions import db
from ..grading.truth import params_key
from ..models import Figure, Job, Puzzle
from ..timeutil import utcnow
from .celery_app import TASK_RUN_JOB, get_celery

log = logging.getLogger(__name__)


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def send(job: Job, countdown: float | None = None) -> bool:
    """Publish a message for the job (after its row is committed); False if the broker is down.

    A job whose message could not be sent (or was lost with a restarted broker) stays queued
    in the table, and recover_jobs() sends it again.
    """
    job.enqueued_at = utcnow()
    db.session.commit()
    try:
        get_celery(current_app._get_current_object()).send_task(
            TASK_RUN_JOB, args=[job.id], countdown=countdown, retry=False)
    except Exception:  # noqa: BLE001 - any broker error: the Job row is the truth
        log.warning("could not send job %s to the broker; it will be re-sent", job.id, exc_info=True)
        return False
    return True


def _job_params_key(job: Job) -> str:
    return params_key(job.params.get("recipe", ""), job.params.get("params") or {})


def supersede_stale_jobs(puzzle_id: int, figure_key: str, current_key: str | None) -> list[int]:
    """Unfinished jobs of the figure computing params it no longer has (None: the figure is
    gone) are superseded: never run, and a worker running one discards its result."""
    stale = [j.id for j in db.session.scalars(sa.select(Job).where(
        Job.puzzle_id == puzzle_id, Job.figure_key == figure_key, Job.status.in_(("queued", "running"))))
        if current_key is None or _job_params_key(j) != current_key]
    if stale:
        table = Job.__table__
        db.session.execute(sa.update(table).where(table.c.id.in_(stale), table.c.status.in_(("queued", "running")))
                           .values(status="superseded", finished_at=utcnow(),
                                   stage="superseded: the figure's parameters changed"))
    return stale


def enqueue_figure(puzzle: Puzzle, figure: Figure) -> Job:
    """A job computing one figure for its current params; an unfinished job for the same
    params is reused, one for other params is superseded."""
    supersede_stale_jobs(puzzle.id, figure.key, figure.params_key)
    live = db.session.scalar(sa.select(Job).where(
        Job.puzzle_id == puzzle.id, Job.figure_key == figure.key, Job.status.in_(("queued", "running"))))
    if live is not None:
        return live
    job = Job(kind="figure", puzzle_id=puzzle.id, figure_key=figure.key,
              params={"recipe": figure.recipe, "params": figure.params}, status="queued",
              stage="queued: waiting for a worker", max_attempts=current_app.config["JOB_MAX_ATTEMPTS"])
    db.session.add(job)
    db.session.commit()
    send(job)
    return job


def enqueue_puzzle(puzzle: Puzzle) -> list[Job]:
    return [enqueue_figure(puzzle, fig) for fig in puzzle.figures]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _worker_dead(job: Job, stale_before) -> bool:
    host, _, pid = (job.worker or "").rpartition(":")
    if host == socket.gethostname() and pid.isdigit() and not _pid_alive(int(pid)):
        return True
    return job.heartbeat_at is None or job.heartbeat_at < stale_before


def recover_jobs(resend_queued: bool = False) -> list[int]:
    """Requeue running jobs whose worker died, and re-send queued jobs whose message is stale.

    Called when a worker starts (resend_queued=True: every queued job is sent again, since
    messages may have been lost with a dead broker or worker) and periodically by each worker
    (then only queued jobs last sent more than JOB_STALE_SECONDS ago: a message lost with a
    restarted broker, or never sent while it was down). Duplicates are harmless: a worker
    claims a job with a conditional UPDATE. Returns the ids sent again.
    """
    now = utcnow()
    stale_before = now - timedelta(seconds=current_app.config["JOB_STALE_SECONDS"])
    resent: list[int] = []
    for job in db.session.scalars(sa.select(Job).where(Job.status == "running")).all():
        if not _worker_dead(job, stale_before):
            continue
        if job.attempts >= job.max_attempts:
            job.status, job.finished_at = "failed", now
            job.error = (f"the worker running it died ({job.worker}) and all {job.max_attempts} "
                         "attempts are used")
            job.stage = "failed"
            db.session.commit()
            continue
        job.status, job.stage = "queued", f"requeued: worker {job.worker} died"
        job.worker = None
        db.session.commit()
        send(job)
        resent.append(job.id)
    for job in db.session.scalars(sa.select(Job).where(Job.status == "queued")).all():
        stale = job.enqueued_at is None or job.enqueued_at < stale_before
        if job.id in resent or not (resend_queued or stale):
            continue
        wait = (job.not_before - now).total_seconds() if job.not_before and job.not_before > now else None
        send(job, countdown=wait)
        resent.append(job.id)
    return resent
