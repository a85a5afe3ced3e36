"""The Celery task: a thin wrapper that hands the job id to the runner."""
from __future__ import annotations

from celery import Celery

from .celery_app import TASK_RUN_JOB


def register(celery: Celery) -> None:
    if TASK_RUN_JOB in celery.tasks:
        return

    @celery.task(name=TASK_RUN_JOB, bind=True)
    def run_job(self, job_id: int) -> str:
        from .runner import execute_job
        return execute_job(job_id)
