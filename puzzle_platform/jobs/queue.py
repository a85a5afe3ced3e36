"""Creating, sending and recovering jobs. The Job row is the truth; a message only wakes a worker.

Safe to send a job twice: a worker claims it with a conditional UPDATE, so only one runs it.
A job whose worker died is found here (dead pid on this host, or a stale heartbeat) and sent
again, until its attempts run out. Every change of a job's status is a conditional UPDATE on
the status (and worker) it was seen with, so that two parties never both move the same job:
whoever loses the race leaves the row alone (see runner.py for the worker's side).
"""
from __future__ import annotations

import logging
import os
import socket
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app

from ..extensions import db
from ..grading.locks import lock_puzzles
from ..grading.truth import current_artifact, params_key
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
    table = Job.__table__
    db.session.execute(sa.update(table).where(table.c.id == job.id).values(enqueued_at=utcnow()))
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


def supersede_if_stale(job_id: int) -> bool:
    """At claim time: a queued figure job whose figure's params changed since it was made (a
    sync that raced it), or whose figure is gone, is superseded instead of run. True if so."""
    job = db.session.get(Job, job_id, populate_existing=True)
    if job is None or job.status != "queued" or job.kind != "figure" or job.figure_key is None:
        return False
    current = db.session.scalar(sa.select(Figure.params_key).where(
        Figure.puzzle_id == job.puzzle_id, Figure.key == job.figure_key))
    if current == "" or current == _job_params_key(job):  # "": a figure row of unknown params
        return False
    table = Job.__table__
    res = db.session.execute(sa.update(table).where(table.c.id == job_id, table.c.status == "queued").values(
        status="superseded", finished_at=utcnow(), stage="superseded: the figure's parameters changed"))
    db.session.commit()
    return res.rowcount == 1


def enqueue_figure(puzzle: Puzzle, figure: Figure) -> Job:
    """A job computing one figure for its current params; an unfinished job for the same
    params is reused, one for other params is superseded. Decided under the puzzle's lock, so
    mentors pressing "Compute now" (or saving) at once get one job, not one each."""
    lock_puzzles([puzzle.id])
    supersede_stale_jobs(puzzle.id, figure.key, figure.params_key)
    live = db.session.scalar(sa.select(Job).where(
        Job.puzzle_id == puzzle.id, Job.figure_key == figure.key, Job.status.in_(("queued", "running"))))
    if live is not None:
        db.session.commit()  # what was superseded, and the lock released
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


def enqueue_missing(puzzle: Puzzle) -> list[Job]:
    """Jobs for the figures whose current params have neither an artifact nor a queued or
    running job (what a save changed or added); computed figures are left alone."""
    out = []
    for fig in puzzle.figures:
        if current_artifact(puzzle.id, fig.key) is not None:
            continue
        live = db.session.scalars(sa.select(Job).where(
            Job.puzzle_id == puzzle.id, Job.figure_key == fig.key, Job.status.in_(("queued", "running"))))
        if any(_job_params_key(j) == fig.params_key for j in live):
            continue
        out.append(enqueue_figure(puzzle, fig))
    return out


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _dead_here(worker: str | None) -> bool:
    """A worker id of a process on this host that no longer exists."""
    host, _, pid = (worker or "").rpartition(":")
    return host == socket.gethostname() and pid.isdigit() and not _pid_alive(int(pid))


def _worker_dead(job: Job, stale_before) -> bool:
    if _dead_here(job.worker):
        return True
    return job.heartbeat_at is None or job.heartbeat_at < stale_before


def _as_seen(job: Job) -> list:
    """WHERE clauses matching the job only while it is still running as we saw it: same worker,
    same heartbeat (a beat that arrives after we judged it dead wins over the requeue)."""
    table = Job.__table__
    worker = table.c.worker.is_(None) if job.worker is None else table.c.worker == job.worker
    beat = table.c.heartbeat_at.is_(None) if job.heartbeat_at is None else table.c.heartbeat_at == job.heartbeat_at
    return [table.c.id == job.id, table.c.status == "running", worker, beat]


def _requeue_or_fail(job: Job, why: str, where: list) -> str | None:
    """Move a running job back to queued (or to failed when its attempts are used), only where
    `where` still matches; returns the new status, None if the job had moved on meanwhile."""
    now = utcnow()
    if job.attempts >= job.max_attempts:
        values = {"status": "failed", "finished_at": now, "stage": "failed",
                  "error": f"{why} and all {job.max_attempts} attempts are used"}
    else:
        values = {"status": "queued", "worker": None, "stage": f"requeued: {why}"[:200], "enqueued_at": None}
    res = db.session.execute(sa.update(Job.__table__).where(*where).values(**values))
    db.session.commit()
    if res.rowcount != 1:
        log.info("job %s changed hands while being requeued; left as it is", job.id)
        return None
    return values["status"]


def requeue_jobs_of(workers: list[str], why: str) -> list[int]:
    """Requeue the running jobs of these worker ids, and of dead processes on this host: what a
    stopping worker does for its pool children (killed, or already dead from the same signal),
    as recovery would after a crash. Not sent here (the broker may be going away too):
    enqueued_at is cleared, so the next recovery pass of any worker, or the next worker
    start, sends them again."""
    table = Job.__table__
    requeued = []
    for job in db.session.scalars(sa.select(Job).where(Job.status == "running")).all():
        if job.worker not in workers and not _dead_here(job.worker):
            continue
        where = [table.c.id == job.id, table.c.status == "running", table.c.worker == job.worker]
        job_id = job.id
        if _requeue_or_fail(job, f"{why} ({job.worker})", where) == "queued":
            requeued.append(job_id)
    return requeued


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
        where = _as_seen(job)
        job_id = job.id
        if _requeue_or_fail(job, f"the worker running it died ({job.worker})", where) == "queued":
            send(job)
            resent.append(job_id)
    for job in db.session.scalars(sa.select(Job).where(Job.status == "queued")).all():
        stale = job.enqueued_at is None or job.enqueued_at < stale_before
        if job.id in resent or not (resend_queued or stale):
            continue
        wait = (job.not_before - now).total_seconds() if job.not_before and job.not_before > now else None
        send(job, countdown=wait)
        resent.append(job.id)
    return resent
