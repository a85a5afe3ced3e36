"""Two mentors asking for the next ungraded explanation at once, on real PostgreSQL with
threads: each gets a different answer (the conditional UPDATE / INSERT ... ON CONFLICT DO
NOTHING of grading/explanation_queue.py, with the unique submission_id as the last guard).

Stress alone rarely hits the window, so there is also a forced interleaving: one mentor's
transaction stops right after it inserted its claim, before committing, while the other asks.
"""
from __future__ import annotations

import re
import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from puzzle_platform.extensions import db
from puzzle_platform.models.explanation import ExplanationGrade
from tests.explanation_fixtures import add_explanation_question, add_version
from tests.helpers import csrf_token, question_toml, write_puzzle
from tests.integration.test_grading_races import _run, pause_after

pytestmark = pytest.mark.services

Q = "/mentor/puzzles/test-puzzle/questions/explain/explanations"
A = "/mentor/explanations"


def _world(app, puzzles_dir, sync, auth, scholars: int, mentors: int) -> list:
    write_puzzle(puzzles_dir, state="closed", figures="", questions=question_toml(
        "lit", "A number.", kind="numeric", grader="abs_tol", grader_params={"tolerance": 0.01}, truth=0.5))
    sync()
    qid = add_explanation_question(app, "test-puzzle")
    for i in range(scholars):
        auth.create_user(f"s{i}")
        add_version(app, f"s{i}", qid, f"Answer of s{i}.", timedelta(hours=2 + i))
    clients = []
    for i in range(mentors):
        auth.create_user(f"m{i}", role="mentor")
        client = app.test_client()
        assert client.post("/login", data={"csrf_token": csrf_token(client), "username": f"m{i}",
                                           "password": "correct horse battery"}).status_code == 302
        clients.append((client, csrf_token(client, Q)))
    return clients


def _claim(client, token: str, out: list) -> None:
    resp = client.post(f"{Q}/next", data={"csrf_token": token})
    match = re.search(r"/explanations/(\d+)$", resp.location or "")
    out.append((resp.status_code, int(match.group(1)) if match else None, client, token))


def _claims(app) -> dict[int, int]:
    with app.app_context():
        return dict(db.session.execute(sa.select(ExplanationGrade.submission_id, ExplanationGrade.claimed_by)
                                       .where(ExplanationGrade.claimed_by.is_not(None))).all())


def test_mentors_asking_at_once_get_different_answers(app, puzzles_dir, sync, auth):
    clients = _world(app, puzzles_dir, sync, auth, scholars=5, mentors=8)
    out: list = []
    _run([threading.Thread(target=_claim, args=(c, t, out)) for c, t in clients])
    assert all(status == 303 for status, *_ in out), out
    got = [sid for _, sid, *_ in out if sid is not None]
    assert len(got) == 5 and len(set(got)) == 5  # five answers, five mentors; three find none left
    assert len(_claims(app)) == 5 and len(set(_claims(app).values())) == 5
    # Then they all save at once: every grade is kept, none overwrites another.
    saved: list = []

    def save(client, token: str, sid: int, key: str) -> None:
        resp = client.post(f"{A}/{sid}", data={"csrf_token": token, "items": [key], "comment": f"c{sid}",
                                               "then": "stay"})
        saved.append(resp.status_code)

    keys = ["mean_vector", "anisotropy", "evidence", "wrong_norm", "evidence"]
    owners = {sid: (client, token) for _, sid, client, token in out if sid is not None}
    _run([threading.Thread(target=save, args=(*owners[sid], sid, keys[i])) for i, sid in enumerate(sorted(owners))])
    assert saved == [303] * 5
    with app.app_context():
        rows = db.session.execute(sa.text(
            "SELECT g.submission_id, g.comment, r.key FROM explanation_grades g JOIN rubric_applications a "
            "ON a.grade_id = g.id JOIN rubric_items r ON r.id = a.rubric_item_id WHERE g.graded_at IS NOT NULL "
            "AND g.claimed_by IS NULL ORDER BY g.submission_id")).all()
    assert [tuple(r) for r in rows] == [(sid, f"c{sid}", keys[i]) for i, sid in enumerate(sorted(owners))]


def test_a_claim_in_flight_is_not_handed_out_twice(app, puzzles_dir, sync, auth):
    """Mentor 0 stops right after inserting its claim (uncommitted); mentor 1 asks meanwhile,
    waits on that row, and must then be given the other answer."""
    (first, t0), (second, t1) = _world(app, puzzles_dir, sync, auth, scholars=2, mentors=2)
    reached, other_done = threading.Event(), threading.Event()
    out0: list = []
    out1: list = []

    def mentor0() -> None:
        with pause_after(app, "INSERT INTO explanation_grades", other_done, reached):
            _claim(first, t0, out0)

    def mentor1() -> None:
        reached.wait(30)
        _claim(second, t1, out1)
        other_done.set()

    _run([threading.Thread(target=mentor0), threading.Thread(target=mentor1)])
    assert reached.is_set()
    (s0, a, *_), (s1, b, *_) = out0[0], out1[0]
    assert s0 == s1 == 303 and a is not None and b is not None and a != b
    assert sorted(_claims(app)) == sorted([a, b])
