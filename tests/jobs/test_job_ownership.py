"""A job has one owner: a worker that lost its job (requeued as stale and claimed by another
worker, or superseded by a puzzle sync) writes nothing more and discards its result.

Two workers are simulated in one process: execute_job(job_id, me=...) runs in a thread per
worker id, and the compute step blocks on an event so the test can interleave them.
"""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from puzzle_platform.extensions import db
from puzzle_platform.grading.truth import params_key
from puzzle_platform.jobs import runner as job_runner
from puzzle_platform.jobs.queue import enqueue_puzzle, recover_jobs, supersede_stale_jobs
from puzzle_platform.models import Artifact, Figure, Job, Puzzle
from puzzle_platform.timeutil import utcnow

A, B = "worker-a-host:101", "worker-b-host:202"
RESULT = {"statistics": {"mean_cos": 0.01, "mean_cos_to_mean": 0.1, "centered_mean_cos": 0.0},
          "figure": None, "provenance": {"revision": "r", "code_version": "test/1"}}


class BlockingCompute:
    """Stands in for the compute step: reports progress, then waits until released (per
    worker); with `poll`, reports progress again once the heartbeat thread found the job lost
    (the callback must then raise JobLost, stopping the computation)."""

    def __init__(self, poll: bool = False):
        self.started = {A: threading.Event(), B: threading.Event()}
        self.release = {A: threading.Event(), B: threading.Event()}
        self.stopped_early: dict[str, bool] = {}
        self.poll = poll

    def __call__(self, job, beat):
        beat.progress(10, "computing")
        self.started[beat.me].set()
        while not self.release[beat.me].wait(0.05 if self.poll else 30):
            if self.poll and beat.lost.is_set():
                self.stopped_early[beat.me] = True
                beat.progress(50, "computing")
                pytest.fail("the progress callback of a lost job did not raise")
        return RESULT


class Run(threading.Thread):
    """execute_job as worker `me`, in its own thread and app context."""

    def __init__(self, app, job_id: int, me: str):
        super().__init__(daemon=True)
        self.app, self.job_id, self.me, self.outcome = app, job_id, me, None

    def run(self) -> None:
        with self.app.app_context():
            self.outcome = job_runner.execute_job(self.job_id, me=self.me)

    def result(self) -> str:
        self.join(30)
        assert not self.is_alive(), f"{self.me} did not finish"
        return self.outcome


@pytest.fixture
def job_id(app, embeddings_puzzle) -> int:
    app.config.update(CELERY_BROKER_URL="memory://", JOB_HEARTBEAT_SECONDS=60.0)
    with app.app_context():
        return enqueue_puzzle(db.session.scalar(sa.select(Puzzle)))[0].id


def _row(app, job_id: int) -> Job:
    with app.app_context():
        job = db.session.get(Job, job_id)
        db.session.expunge(job)
        return job


def _artifacts(app) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(Artifact))


def test_worker_that_lost_its_job_to_recovery_and_another_worker_discards_its_result(
        app, job_id, monkeypatch, caplog):
    compute = BlockingCompute()
    monkeypatch.setattr(job_runner, "_compute", compute)
    first = Run(app, job_id, A)
    first.start()
    assert compute.started[A].wait(30)
    with app.app_context():  # A's heartbeat goes stale: recovery requeues the job
        db.session.execute(sa.update(Job.__table__).where(Job.__table__.c.id == job_id).values(
            heartbeat_at=utcnow() - timedelta(seconds=app.config["JOB_STALE_SECONDS"] + 1)))
        db.session.commit()
        assert recover_jobs() == [job_id]
    second = Run(app, job_id, B)  # the re-sent message reaches worker B, which claims the job
    second.start()
    assert compute.started[B].wait(30)

    compute.release[A].set()  # A finishes its (now stale) computation
    assert first.result() == "lost"
    job = _row(app, job_id)
    assert (job.status, job.worker, job.attempts) == ("running", B, 2)
    assert job.artifact_id is None and _artifacts(app) == 0
    assert f"job {job_id} lost to worker {B}; result discarded" in caplog.text

    compute.release[B].set()  # B, the owner, stores the result
    assert second.result() == "succeeded"
    job = _row(app, job_id)
    assert job.status == "succeeded" and job.worker == B and job.artifact_id is not None
    assert _artifacts(app) == 1


def test_job_superseded_while_running_stops_early_and_discards_its_result(app, job_id, monkeypatch, caplog):
    app.config["JOB_HEARTBEAT_SECONDS"] = 0.05
    compute = BlockingCompute(poll=True)
    monkeypatch.setattr(job_runner, "_compute", compute)
    run = Run(app, job_id, A)
    run.start()
    assert compute.started[A].wait(30)
    with app.app_context():  # a puzzle sync changed the figure's params
        job = db.session.get(Job, job_id)
        assert supersede_stale_jobs(job.puzzle_id, job.figure_key, "other-params") == [job_id]
        db.session.commit()
    assert run.result() == "superseded"
    assert compute.stopped_early == {A: True}  # the heartbeat noticed; progress raised JobLost
    assert not compute.release[A].is_set()
    job = _row(app, job_id)
    assert job.status == "superseded" and job.artifact_id is None and _artifacts(app) == 0
    assert f"job {job_id} lost to a puzzle sync" in caplog.text


def test_lost_job_is_neither_failed_nor_retried_by_the_loser(app, job_id, monkeypatch):
    started, release = threading.Event(), threading.Event()

    def failing(job, beat):
        started.set()
        release.wait(30)
        raise RuntimeError("CUDA error (simulated)")

    monkeypatch.setattr(job_runner, "_compute", failing)
    run = Run(app, job_id, A)
    run.start()
    assert started.wait(30)
    with app.app_context():  # taken over by B in the meantime
        db.session.execute(sa.update(Job.__table__).where(Job.__table__.c.id == job_id).values(worker=B))
        db.session.commit()
    release.set()
    assert run.result() == "lost"
    job = _row(app, job_id)
    assert (job.status, job.worker, job.error, job.not_before) == ("running", B, None, None)


def test_queued_job_whose_figure_params_changed_is_superseded_at_claim(app, job_id, monkeypatch):
    monkeypatch.setattr(job_runner, "_compute", lambda job, beat: pytest.fail("a superseded job ran"))
    with app.app_context():  # the figure's params changed without the job being superseded
        job = db.session.get(Job, job_id)
        fig = db.session.scalar(sa.select(Figure).where(Figure.puzzle_id == job.puzzle_id,
                                                        Figure.key == job.figure_key))
        fig.params = {**fig.params, "bins": 20}
        fig.params_key = params_key(fig.recipe, fig.params)
        db.session.commit()
        assert job_runner.execute_job(job_id, me=A) == "superseded"
    job = _row(app, job_id)
    assert job.status == "superseded" and job.worker is None and job.attempts == 0
    with app.app_context():  # and a superseded job is never claimed afterwards
        assert job_runner.execute_job(job_id, me=B) == "superseded"
    assert _row(app, job_id).status == "superseded"


def test_heartbeat_arriving_after_the_staleness_check_wins_over_recovery(app, job_id, monkeypatch):
    """recover_jobs requeues only a job still as it judged it: a fresh beat in between wins."""
    from puzzle_platform.jobs import queue

    with app.app_context():
        assert job_runner.claim(job_id, A)
        db.session.execute(sa.update(Job.__table__).where(Job.__table__.c.id == job_id).values(
            heartbeat_at=utcnow() - timedelta(hours=1)))
        db.session.commit()
        judged = queue._worker_dead

        def beat_after_judging(job, stale_before):
            dead = judged(job, stale_before)
            with db.engine.begin() as conn:  # A's heartbeat thread writes just now
                conn.execute(sa.update(Job.__table__).where(Job.__table__.c.id == job_id)
                             .values(heartbeat_at=utcnow()))
            return dead

        monkeypatch.setattr(queue, "_worker_dead", beat_after_judging)
        assert recover_jobs() == []
    job = _row(app, job_id)
    assert (job.status, job.worker) == ("running", A)


def test_success_is_recorded_only_by_the_owner(app, job_id):
    """The last guard: marking succeeded and storing the artifact happen in one transaction,
    only if the conditional UPDATE still finds the job running on this worker."""
    with app.app_context():
        assert job_runner.claim(job_id, B)
        job = db.session.get(Job, job_id)
        assert job_runner._succeed(job, A, RESULT) == "lost"
        assert job_runner._succeed(job, B, RESULT) == "succeeded"
    job = _row(app, job_id)
    assert (job.status, job.worker) == ("succeeded", B) and _artifacts(app) == 1
