"""Several mentors pressing "Compute now" (or saving) at once on real PostgreSQL: each figure
gets exactly one queued job, never two computing the same thing."""
from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from puzzle_platform.extensions import db
from puzzle_platform.models import Job
from tests.integration.test_delete_draft import _client, _post
from tests.integration.test_grading_races import _run
from tests.test_mentor_authoring import puzzle_form

pytestmark = pytest.mark.services


def test_parallel_compute_now_queues_one_job_per_figure(app, auth):
    app.config["CELERY_BROKER_URL"] = "memory://"
    mentors = [_client(app, auth, f"m{i}", "mentor") for i in range(6)]
    assert _post(mentors[0], "/mentor/puzzles/new", puzzle_form()).status_code == 303
    with app.app_context():
        db.session.execute(sa.delete(Job))  # the save queued it; start from none
        db.session.commit()
    start, statuses = threading.Barrier(len(mentors)), []

    def press(client) -> None:
        start.wait()
        statuses.append(_post(client, "/mentor/puzzles/web-puzzle/compute").status_code)

    _run([threading.Thread(target=press, args=(c,)) for c in mentors])
    assert statuses == [303] * len(mentors)
    with app.app_context():
        jobs = db.session.execute(sa.select(Job.figure_key, Job.status)).all()
    assert jobs == [("fig", "queued")], jobs
