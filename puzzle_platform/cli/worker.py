"""`manage.py worker`: a Celery worker for compute jobs, plus job recovery.

One job at a time per process (concurrency 1 by default: one per GPU); run one worker per GPU
with CUDA_VISIBLE_DEVICES. The parent process never imports torch: the job runs in the pool
child, which imports the worker package when its first job arrives.
"""
from __future__ import annotations

import threading

import click
from flask import current_app
from flask.cli import with_appcontext


def _recovery_loop(app, every: float, stop: threading.Event) -> None:
    from ..jobs.queue import recover_jobs
    while not stop.wait(every):
        with app.app_context():
            try:
                recover_jobs()
            except Exception:  # noqa: BLE001 - keep the loop alive; the next tick retries
                app.logger.warning("job recovery failed", exc_info=True)


@click.command("worker")
@click.option("--concurrency", default=1, show_default=True, help="Jobs at once (1 per GPU).")
@click.option("--pool", default="prefork", show_default=True,
              type=click.Choice(["prefork", "solo", "threads"]))
@click.option("--loglevel", default="INFO", show_default=True)
@with_appcontext
def worker(concurrency: int, pool: str, loglevel: str) -> None:
    """Run a compute worker (needs the `worker` extra: torch, transformer-lens)."""
    from celery.signals import worker_process_init

    from ..extensions import db
    from ..jobs.celery_app import QUEUE, make_celery
    from ..jobs.queue import recover_jobs

    app = current_app._get_current_object()
    celery = make_celery(app)

    @worker_process_init.connect(weak=False)
    def _fresh_connections(**_):  # a forked child must not share the parent's sockets
        with app.app_context():
            db.engine.dispose(close=False)

    resent = recover_jobs(resend_queued=True)
    if resent:
        click.echo(f"requeued jobs {resent}")
    db.engine.dispose()
    stop = threading.Event()
    every = float(app.config.get("JOB_RECOVERY_SECONDS", 30))
    threading.Thread(target=_recovery_loop, args=(app, every, stop), daemon=True).start()
    try:
        celery.worker_main(["worker", f"--loglevel={loglevel}", f"--concurrency={concurrency}",
                            f"--pool={pool}", "--prefetch-multiplier=1", "-Q", QUEUE,
                            "--without-gossip", "--without-mingle", "--without-heartbeat"])
    finally:
        stop.set()
