"""kill -9 a worker mid-job: the Job table notices and the job still completes.

Real `manage.py worker` processes on the filesystem broker (the embedded default). A model
with a 40k vocabulary makes the exact histogram take several seconds on a CPU, long enough
to kill the worker in the middle of it.
"""
from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest
import sqlalchemy as sa

from puzzle_platform.extensions import db
from puzzle_platform.jobs.queue import enqueue_puzzle
from puzzle_platform.models import Job, Puzzle
from tests.helpers import figure_toml, kill_group, question_toml, start_worker_process, write_puzzle

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wide_model(tmp_path_factory):
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(1)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=40000, n_embd=16, n_layer=1, n_head=2, n_positions=16,
                                       bos_token_id=0, eos_token_id=1))
    path = tmp_path_factory.mktemp("wide") / "gpt2_wide"
    model.save_pretrained(path)
    return path


@pytest.fixture
def slow_puzzle(app, puzzles_dir, sync, wide_model, tmp_path):
    figures = figure_toml("wide", "Wide", model=wide_model, weights="raw", device="cpu", bins=50)
    questions = question_toml("q", "p", grader="interval", grader_params={"scale": 0.5}, statistic="wide.mean_cos")
    write_puzzle(puzzles_dir, slug="slow", figures=figures, questions=questions)
    sync()
    app.config.update(CELERY_BROKER_URL="filesystem://", CELERY_BROKER_DIR=str(tmp_path / "broker"))
    return app


def _start_worker(app, tmp_path) -> subprocess.Popen:
    return start_worker_process(
        app, tmp_path / "instance", tmp_path / f"worker-{time.monotonic_ns()}.log",
        CELERY_BROKER_URL="filesystem://", CELERY_BROKER_DIR=app.config["CELERY_BROKER_DIR"])


def _job(app) -> Job:
    with app.app_context():
        db.session.expire_all()
        return db.session.scalar(sa.select(Job))


def _wait(app, predicate, timeout: float, what: str) -> Job:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = _job(app)
        if job is not None and predicate(job):
            return job
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}: {_job(app).__dict__ if _job(app) else None}")


def _mid_histogram(job: Job) -> bool:
    return job.status == "running" and "histogram" in job.stage and job.progress >= 10


def test_kill_9_child_then_whole_worker_job_completes(slow_puzzle, tmp_path):
    app = slow_puzzle
    worker = _start_worker(app, tmp_path)
    try:
        with app.app_context():
            enqueue_puzzle(db.session.scalar(sa.select(Puzzle)))
        # 1) kill -9 the pool child doing the work: the same worker requeues and finishes it
        job = _wait(app, _mid_histogram, 120, "the job to be mid-histogram")
        child_pid = int(job.worker.rpartition(":")[2])
        assert child_pid != worker.pid
        os.kill(child_pid, signal.SIGKILL)
        job = _wait(app, lambda j: j.attempts >= 2 and _mid_histogram(j), 120, "a second attempt")
        # 2) kill -9 the whole worker (parent and child): a new worker picks it up at start-up
        kill_group(worker)
        assert _job(app).status == "running"          # stuck, as far as the table knows
        worker = _start_worker(app, tmp_path)
        job = _wait(app, lambda j: j.status in ("succeeded", "failed"), 180, "the job to finish")
        assert job.status == "succeeded", job.error
        assert job.attempts == 3 and job.artifact_id is not None
    finally:
        kill_group(worker)
