"""A draft deleted while a worker computes its figure: the worker drops the job quietly, whether
the recipe then fails or succeeds, and leaves nothing behind (no artifact, no job row)."""
from __future__ import annotations

from unittest import mock

import pytest
import sqlalchemy as sa

from puzzle_platform.extensions import db
from puzzle_platform.jobs import runner
from puzzle_platform.models import Artifact, Job, Puzzle
from tests.test_mentor_authoring import login_as, post, puzzle_form


@pytest.mark.parametrize("outcome", ["fails", "succeeds"])
def test_job_of_a_draft_deleted_while_running(app, client, auth, outcome):
    login_as(auth, "mentor")
    assert post(client, "/mentor/puzzles/new", puzzle_form()).status_code == 303
    with app.app_context():
        job_id = db.session.scalar(sa.select(Job.id))
    assert job_id is not None  # saving queued the figure

    def compute(job, beat):  # the mentor deletes the draft while the model loads
        resp = post(client, "/mentor/puzzles/web-puzzle/delete", {"confirm_slug": "web-puzzle"})
        assert resp.status_code == 303
        if outcome == "fails":
            raise ValueError("model failed to load")
        return {"statistics": {"mean_cos": 0.5}, "figure": None, "provenance": {}}

    with app.app_context(), mock.patch.object(runner, "_compute", compute):
        assert runner.execute_job(job_id, "host:1") == "lost"
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Puzzle)) == 0
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Job)) == 0
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Artifact)) == 0
