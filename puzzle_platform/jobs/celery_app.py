"""The Celery application, configured from the Flask config.

Embedded default: the kombu filesystem transport under instance/broker (no server). Scaled
out: CELERY_BROKER_URL=redis://... . Either way: one job at a time per worker process
(prefetch 1), late acks and reject-on-worker-lost so a killed worker's message is not
silently acked; and the Job table, not the broker, decides whether a job still needs running.

Imports point one way (tasks -> runner -> queue -> celery_app): this module knows the task
only by name, for sending; jobs.tasks registers it on the worker's app.
"""
from __future__ import annotations

from pathlib import Path

from celery import Celery, Task
from flask import Flask

TASK_RUN_JOB = "puzzles.run_job"
TASK_SEND_NOTIFICATION = "puzzles.send_notification"  # jobs/mail.py
QUEUE = "puzzles"


def broker_options(app: Flask) -> dict:
    url = app.config["CELERY_BROKER_URL"]
    if url.startswith("filesystem://"):
        folder = Path(app.config["CELERY_BROKER_DIR"])
        for sub in ("out", "processed", "control"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        return {"data_folder_in": str(folder / "out"), "data_folder_out": str(folder / "out"),
                "processed_folder": str(folder / "processed"), "store_processed": False,
                "control_folder": str(folder / "control")}
    if url.startswith(("redis://", "rediss://")):
        # Redelivery of unacked messages after visibility_timeout: above the longest job.
        return {"visibility_timeout": int(app.config.get("CELERY_VISIBILITY_TIMEOUT", 6 * 3600))}
    return {}


def make_celery(app: Flask) -> Celery:
    """A Celery app whose tasks run inside the Flask app context."""

    class FlaskTask(Task):
        def __call__(self, *args, **kwargs):
            with app.app_context():
                return self.run(*args, **kwargs)

    celery = Celery(app.import_name, task_cls=FlaskTask)
    celery.conf.update(
        broker_url=app.config["CELERY_BROKER_URL"],
        broker_transport_options=broker_options(app),
        broker_connection_retry_on_startup=True,
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_default_queue=QUEUE,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
    )
    celery.set_default()
    app.extensions["celery"] = celery
    return celery


def get_celery(app: Flask) -> Celery:
    """The app's Celery (made on first use); enough to send a job, which goes by name."""
    return app.extensions.get("celery") or make_celery(app)
