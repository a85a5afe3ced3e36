"""Deleting a draft on real PostgreSQL: every row of the puzzle goes (its foreign keys hold
there too), and a delete racing a publish followed by a scholar's answer leaves either no
puzzle and no answer, or the puzzle with its answer; never a 500 or an orphan."""
from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from puzzle_platform.extensions import db
from puzzle_platform.models import Artifact, Figure, Job, Puzzle, Question, RubricItem, Submission
from tests.explanation_helpers import add_explanation_question
from tests.helpers import add_artifact, csrf_token
from tests.integration.test_grading_races import _run
from tests.test_mentor_authoring import puzzle_form

pytestmark = pytest.mark.services
MODELS = (Puzzle, Figure, Question, Artifact, Job, RubricItem, Submission)


def _client(app, auth, name: str, role: str):
    auth.create_user(name, role=role)
    client = app.test_client()
    resp = client.post("/login", data={"csrf_token": csrf_token(client), "username": name,
                                       "password": "correct horse battery"})
    assert resp.status_code == 302
    return client


def _post(client, url: str, data: dict | None = None):
    return client.post(url, data={"csrf_token": csrf_token(client, "/"), **(data or {})})


def _counts(app) -> dict[str, int]:
    with app.app_context():
        db.session.expire_all()
        return {m.__name__: db.session.scalar(sa.select(sa.func.count()).select_from(m)) for m in MODELS}


def _draft(app, mentor) -> None:
    assert _post(mentor, "/mentor/puzzles/new", puzzle_form()).status_code == 303
    add_artifact(app, "web-puzzle", "fig", {"mean_cos": 0.5})
    add_explanation_question(app, "web-puzzle")


def test_delete_removes_every_row_on_postgres(app, auth):
    mentor = _client(app, auth, "mia", "mentor")
    _draft(app, mentor)
    before = _counts(app)
    assert all(before[m] for m in ("Puzzle", "Figure", "Question", "Artifact", "Job", "RubricItem"))
    resp = _post(mentor, "/mentor/puzzles/web-puzzle/delete", {"confirm_slug": "web-puzzle"})
    assert resp.status_code == 303
    assert not any(_counts(app).values())


@pytest.mark.parametrize("round_", range(4))
def test_delete_racing_publish_and_answer(app, auth, round_):
    mentor, other = _client(app, auth, "mia", "mentor"), _client(app, auth, "max", "mentor")
    scholar = _client(app, auth, "sam", "scholar")
    _draft(app, mentor)
    start, statuses = threading.Barrier(2), {}

    def delete() -> None:
        start.wait(10)
        statuses["delete"] = _post(mentor, "/mentor/puzzles/web-puzzle/delete",
                                   {"confirm_slug": "web-puzzle"}).status_code

    def publish_and_answer() -> None:
        start.wait(10)
        statuses["publish"] = _post(other, "/mentor/puzzles/web-puzzle/publish", {"confirm": "1"}).status_code
        statuses["answer"] = _post(scholar, "/puzzles/web-puzzle/questions/why",
                                   {"text": "Because of the mean vector."}).status_code

    _run([threading.Thread(target=delete), threading.Thread(target=publish_and_answer)])
    counts = _counts(app)
    assert 500 not in statuses.values(), statuses
    if statuses["delete"] == 303:
        assert not any(counts.values()), counts
        assert statuses["publish"] in (404, 409) and statuses["answer"] == 404
    else:
        assert statuses["delete"] == 409 and statuses["publish"] == 303
        assert counts["Puzzle"] == 1 and counts["Submission"] == 1, (statuses, counts)
