"""Retries with backoff, recovery of jobs whose worker died, idempotent claims."""
from __future__ import annotations

import socket
from datetime import timedelta

import sqlalchemy as sa

from puzzle_platform.extensions import db
from puzzle_platform.jobs import runner as job_runner
from puzzle_platform.jobs.queue import enqueue_puzzle, recover_jobs
from puzzle_platform.models import Job, Puzzle
from puzzle_platform.timeutil import utcnow


def _jobs(app, broker="memory://"):
    app.config["CELERY_BROKER_URL"] = broker
    with app.app_context():
        puzzle = db.session.scalar(sa.select(Puzzle))
        return [j.id for j in enqueue_puzzle(puzzle)]


def test_transient_failure_retries_with_backoff_then_fails(app, embeddings_puzzle, monkeypatch):
    calls = []

    def flaky(job, beat):
        calls.append(job.id)
        raise RuntimeError("CUDA error: an illegal memory access (simulated)")

    monkeypatch.setattr(job_runner, "_compute", flaky)
    job_id = _jobs(app)[0]
    with app.app_context():
        assert job_runner.execute_job(job_id) == "retrying"
        job = db.session.get(Job, job_id)
        assert job.status == "queued" and job.not_before > utcnow() + timedelta(seconds=5)
        assert "retrying in 10 s" in job.stage and "illegal memory access" in job.error
        assert job_runner.execute_job(job_id) == "skipped"  # not due yet
        for expected in ("retrying", "failed"):
            job.not_before = utcnow() - timedelta(seconds=1)
            db.session.commit()
            assert job_runner.execute_job(job_id) == expected
            job = db.session.get(Job, job_id)
            db.session.refresh(job)
        assert job.status == "failed" and job.attempts == 3
        assert job.error.endswith("(after 3 attempts)")
    assert len(calls) == 3


def test_claim_is_exclusive(app, embeddings_puzzle):
    job_id = _jobs(app)[0]
    with app.app_context():
        assert job_runner.claim(job_id, "a:1") is True
        assert job_runner.claim(job_id, "b:2") is False


def test_recovery_requeues_dead_and_stale_workers(app, embeddings_puzzle):
    neo, gpt2 = _jobs(app)
    with app.app_context():
        host = socket.gethostname()
        dead_pid = 2 ** 22 + 12345
        job_runner.claim(neo, f"{host}:{dead_pid}")            # our host, pid gone
        job_runner.claim(gpt2, "other-box:42")                 # other host, heartbeat fresh
        assert recover_jobs() == [neo]
        assert db.session.get(Job, neo).status == "queued"
        assert "died" in db.session.get(Job, neo).stage
        job = db.session.get(Job, gpt2)
        job.heartbeat_at = utcnow() - timedelta(seconds=app.config["JOB_STALE_SECONDS"] + 1)
        db.session.commit()
        assert recover_jobs() == [gpt2]


def test_recovery_fails_job_after_last_attempt(app, embeddings_puzzle):
    job_id = _jobs(app)[0]
    with app.app_context():
        job = db.session.get(Job, job_id)
        job.max_attempts = 1
        db.session.commit()
        job_runner.claim(job_id, "gone-box:1")
        job = db.session.get(Job, job_id)
        job.heartbeat_at = utcnow() - timedelta(hours=1)
        db.session.commit()
        assert recover_jobs() == []
        db.session.refresh(job)
        assert job.status == "failed" and "worker running it died" in job.error


def test_enqueue_reuses_unfinished_job(app, embeddings_puzzle):
    first = _jobs(app)
    assert _jobs(app) == first


def test_broker_down_keeps_job_queued_and_recovery_resends(app, embeddings_puzzle):
    from puzzle_platform.jobs.celery_app import get_celery

    app.config["CELERY_BROKER_URL"] = "redis://127.0.0.1:1/0"   # nothing listens there
    with app.app_context():
        get_celery(app).conf.broker_connection_timeout = 1
        get_celery(app).conf.broker_transport_options = {"max_retries": 0}
        puzzle = db.session.scalar(sa.select(Puzzle))
        ids = [j.id for j in enqueue_puzzle(puzzle)]           # does not raise
        assert {db.session.get(Job, i).status for i in ids} == {"queued"}
        assert recover_jobs() == []                            # sent just now: not stale yet
        app.extensions.pop("celery")
        app.config["CELERY_BROKER_URL"] = "memory://"          # the broker is back
        for i in ids:
            db.session.get(Job, i).enqueued_at = utcnow() - timedelta(seconds=app.config["JOB_STALE_SECONDS"] + 1)
        db.session.commit()
        assert sorted(recover_jobs()) == sorted(ids)
