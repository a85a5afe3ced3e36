"""The Celery tasks: thin wrappers that hand a job id to the runner, a notification id to mail.py.

Registration lives here, not in celery_app, so that imports point one way
(tasks -> runner -> queue -> celery_app); whoever consumes jobs (the worker CLI, tests with an
in-process worker) calls make_worker_celery(). Senders only need celery_app.
"""
from __future__ import annotations

from celery import Celery
from flask import Flask

from .celery_app import TASK_RUN_JOB, TASK_SEND_NOTIFICATION, get_celery
from .mail import deliver_and_reschedule
from .runner import execute_job


def register(celery: Celery) -> None:
    """Add the run-job and send-notification tasks to `celery` (once)."""
    if TASK_RUN_JOB in celery.tasks:
        return

    @celery.task(name=TASK_RUN_JOB, bind=True)
    def run_job(self, job_id: int) -> str:
        return execute_job(job_id)

    @celery.task(name=TASK_SEND_NOTIFICATION)
    def send_notification(notification_id: int) -> str:
        return deliver_and_reschedule(notification_id)


def make_worker_celery(app: Flask) -> Celery:
    """The app's Celery with the task registered: what a worker consumes with."""
    celery = get_celery(app)
    register(celery)
    return celery
