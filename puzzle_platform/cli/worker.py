"""`manage.py worker`: a Celery worker for compute jobs, plus job recovery.

One job at a time per process (concurrency 1 by default: one per GPU); run one worker per GPU
with CUDA_VISIBLE_DEVICES. The parent process never imports torch: the job runs in the pool
child, which imports the worker package when its first job arrives.
"""
from __future__ import annotations

import hashlib
import threading

import click
from flask import current_app
from flask.cli import with_appcontext


WORKER_KEY_PREFIX = "worker:"  # Setting rows "worker:<host:pid>" = last sign of life (ISO UTC)
FORGET_WORKERS_AFTER = 86400.0  # seconds; rows of workers gone this long are deleted
MODEL_REPORT_TICKS = 10  # the recovery loop re-reports the models it holds every this many ticks


def worker_key(ident: str) -> str:
    """The Setting key for a worker (keys hold 64 characters; very long host names are hashed)."""
    key = f"{WORKER_KEY_PREFIX}{ident}"
    return key if len(key) <= 64 else f"{WORKER_KEY_PREFIX}{hashlib.sha256(ident.encode()).hexdigest()[:40]}"


def report_alive() -> None:
    """Say this worker is alive (read by /healthz: an idle worker has no job to show it), and
    forget workers silent for a day, so the table does not grow with every restart."""
    import sqlalchemy as sa

    from ..extensions import db
    from ..jobs.queue import worker_id
    from ..models import Setting
    from ..timeutil import iso, parse_utc, utcnow

    now = utcnow()
    Setting.put(worker_key(worker_id()), iso(now))
    for row in db.session.scalars(sa.select(Setting).where(Setting.key.startswith(WORKER_KEY_PREFIX))):
        try:
            stale = (now - parse_utc(str(row.value))).total_seconds() > FORGET_WORKERS_AFTER
        except ValueError:
            stale = True
        if stale:
            db.session.delete(row)
    db.session.commit()


def report_models() -> None:
    """Store the models this worker holds or can load (jobs/worker_models.py), read by the
    authoring form and the save-time model check, and delete the reports of workers gone
    for a day. Scanning the caches is cheap but not free: at start and every
    MODEL_REPORT_TICKS ticks of the recovery loop, and after each job (runner.py)."""
    from ..extensions import db
    from ..jobs.queue import worker_id
    from ..jobs.worker_models import forget_stale_reports, report_held_models

    report_held_models(worker_id())
    forget_stale_reports()
    db.session.commit()


def _forget_self() -> None:
    """A worker that stops cleanly removes its rows at once (a killed one ages out)."""
    from ..extensions import db
    from ..jobs.queue import worker_id
    from ..jobs.worker_models import forget_report
    from ..models import Setting

    row = db.session.get(Setting, worker_key(worker_id()))
    if row is not None:
        db.session.delete(row)
    forget_report(worker_id())
    db.session.commit()


def check_notifications() -> dict[str, list[int]]:
    """Queue the emails of puzzles just released or revealed, and re-send lost messages
    (the worker's periodic tick and `manage.py notify check`)."""
    from ..community.notifications import queue_due
    from ..jobs.mail import resend_due

    queued = queue_due()
    queued["resent"] = resend_due()
    return queued


def _recovery_loop(app, every: float, stop: threading.Event) -> None:
    from ..access.ratelimit import prune
    from ..extensions import db
    from ..grading.reveal import score_due
    from ..jobs.queue import recover_jobs
    ticks = 0
    while not stop.wait(every):
        ticks += 1
        with app.app_context():
            try:
                report_alive()
                recover_jobs()
                score_due()  # forecasts are scored at the reveal even if nobody looks
                if ticks % 100 == 1:
                    prune()  # old rate-limit windows: housekeeping, rarely
            except Exception:  # noqa: BLE001 - keep the loop alive; the next tick retries
                app.logger.warning("job recovery failed", exc_info=True)
            if ticks % MODEL_REPORT_TICKS == 0:
                try:
                    report_models()
                except Exception:  # noqa: BLE001 - an unreadable cache must not stop recovery
                    db.session.rollback()
                    app.logger.warning("reporting the models held failed", exc_info=True)
            try:
                check_notifications()  # puzzles gone live or revealed; lost email messages
            except Exception:  # noqa: BLE001 - emails wait for the next tick; jobs go on
                db.session.rollback()
                app.logger.warning("the notification check failed", exc_info=True)


@click.command("worker")
@click.option("--concurrency", default=1, show_default=True, help="Jobs at once (1 per GPU).")
@click.option("--pool", default="prefork", show_default=True,
              type=click.Choice(["prefork", "solo", "threads"]))
@click.option("--loglevel", default="INFO", show_default=True)
@click.option("--parent-pid", type=int, default=None, hidden=True,
              help="Stop when this parent process is gone (`manage.py run` passes its pid).")
@with_appcontext
def worker(concurrency: int, pool: str, loglevel: str, parent_pid: int | None) -> None:
    """Run a compute worker (needs the `worker` extra: torch, transformer-lens).

    SIGTERM, SIGINT and SIGHUP stop it within WORKER_SHUTDOWN_SECONDS; a job still running
    then is killed and requeued (see jobs/shutdown.py).
    """
    import os

    from celery.signals import worker_process_init

    from ..extensions import db
    from ..jobs.celery_app import QUEUE
    from ..jobs.queue import recover_jobs, worker_id
    from ..jobs.worker_models import REPORTER_ENV
    from ..jobs.shutdown import WorkerShutdown
    from ..jobs.tasks import make_worker_celery

    app = current_app._get_current_object()
    shutdown = WorkerShutdown(app, float(app.config["WORKER_SHUTDOWN_SECONDS"]), forget=_forget_self)
    shutdown.install_early_handlers()
    stop = threading.Event()
    try:
        celery = make_worker_celery(app)
        shutdown.attach(celery)

        @worker_process_init.connect(weak=False)
        def _fresh_connections(**_):  # a forked child must not share the parent's sockets
            with app.app_context():
                db.engine.dispose(close=False)

        report_alive()
        os.environ[REPORTER_ENV] = worker_id()  # pool children report under this worker's id
        try:
            report_models()
        except Exception:  # noqa: BLE001 - the loop tries again; jobs need no report
            db.session.rollback()
            app.logger.warning("reporting the models held failed", exc_info=True)
        resent = recover_jobs(resend_queued=True)
        if resent:
            click.echo(f"requeued jobs {resent}")
        db.engine.dispose()
        if parent_pid:
            shutdown.watch_parent(parent_pid)
        every = float(app.config.get("JOB_RECOVERY_SECONDS", 30))
        threading.Thread(target=_recovery_loop, args=(app, every, stop), daemon=True).start()
        celery.worker_main(["worker", f"--loglevel={loglevel}", f"--concurrency={concurrency}",
                            f"--pool={pool}", "--prefetch-multiplier=1", "-Q", QUEUE,
                            "--without-gossip", "--without-mingle", "--without-heartbeat"])
    finally:
        stop.set()
        shutdown.finish()  # pool children gone, their jobs requeued, the liveness row removed
