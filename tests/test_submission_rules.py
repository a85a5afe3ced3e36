"""Bad input, attempt limits and waits: a clear 4xx, and only the rejected attempt is stored."""
from datetime import timedelta

import pytest
import sqlalchemy as sa
from freezegun import freeze_time

from puzzle_platform.extensions import db
from puzzle_platform.models import Score, Submission
from puzzle_platform.timeutil import utcnow
from tests.helpers import (add_artifact, challenge_mean, csrf_token, mean_question, question_toml, text_question,
                           write_puzzle)


def _post(client, key="mean", slug="test-puzzle", token=True, **fields):
    data = dict(fields)
    if token:
        data["csrf_token"] = csrf_token(client, "/login")
    return client.post(f"/puzzles/{slug}/questions/{key}", data=data)


def _log(app):
    with app.app_context():
        return [(s.status, s.feedback, s.payload) for s in db.session.scalars(sa.select(Submission).order_by(Submission.id))]


@pytest.fixture
def live(app, puzzles_dir, sync, auth):
    write_puzzle(puzzles_dir)
    sync()
    auth.register("sam")
    return app


@pytest.mark.parametrize("fields, reason", [
    ({}, "Enter a number"),
    ({"value": "abc"}, "must be a number"),
    ({"value": "nan"}, "finite number"),
    ({"value": "inf"}, "finite number"),
    ({"value": "-Infinity"}, "finite number"),
    ({"value": "0.5", "lower": "0.6", "upper": "0.4"}, "above its upper end"),
    ({"value": "0.5", "lower": "0.1"}, "both ends"),
    ({"value": "0.9", "lower": "0.1", "upper": "0.5"}, "must lie inside your interval"),
    ({"value": "0.5", "lower": "nan", "upper": "1"}, "finite number"),
])
def test_bad_numbers_are_refused_and_logged(live, client, fields, reason):
    r = _post(client, **fields)
    assert r.status_code == 400
    assert reason in r.get_data(as_text=True)
    log = _log(live)
    assert [s for s, _, _ in log] == ["rejected"]
    assert reason in log[0][1]
    with live.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Score)) == 0


def test_unknown_question_is_404_and_logged(live, client):
    r = _post(client, key="nope", value="1")
    assert r.status_code == 404 and "Unknown question" in r.get_data(as_text=True)
    log = _log(live)
    assert log[0][0] == "rejected" and log[0][2]["question"] == "nope"


def test_missing_csrf_is_400_and_nothing_stored(live, client):
    r = _post(client, token=False, value="0.5")
    assert r.status_code == 400 and "security token" in r.get_data(as_text=True)
    assert _log(live) == []


def test_not_logged_in_is_401(app, client, puzzles_dir, sync):
    write_puzzle(puzzles_dir)
    sync()
    r = _post(client, value="0.5")
    assert r.status_code == 401
    assert _log(app) == []


@pytest.mark.parametrize("state, status, text", [
    ("upcoming", 404, "not released"), ("closed", 403, "closed"), ("revealed", 403, "closed")])
def test_puzzle_not_live(app, client, puzzles_dir, sync, auth, state, status, text):
    write_puzzle(puzzles_dir, state=state)
    sync()
    auth.register("sam")
    r = _post(client, value="0.5")
    assert r.status_code == status and text in r.get_data(as_text=True)


@pytest.fixture
def challenge(app, puzzles_dir, sync, auth):
    write_puzzle(puzzles_dir, questions=challenge_mean(max_attempts=3))
    sync()
    auth.register("sam")
    return app


def test_attempt_limit_and_escalating_wait(challenge, client):
    live = challenge
    add_artifact(live, "test-puzzle", "fig", {"mean_cos": 0.9})
    start = utcnow()
    with freeze_time(start) as clock:
        assert _post(client, value="0.0").status_code == 303          # wrong (score < pass)
        r = _post(client, value="0.1")
        assert r.status_code == 429 and r.headers["Retry-After"] == "60"
        assert "wait 60 s" in r.get_data(as_text=True)
        page = client.get("/puzzles/test-puzzle").get_data(as_text=True)
        assert "data-wait-until" in page and "2 of 3 attempts left" in page
        clock.tick(timedelta(seconds=61))
        assert _post(client, value="0.1").status_code == 303          # wrong again
        clock.tick(timedelta(seconds=61))
        r = _post(client, value="0.2")
        assert r.status_code == 429 and r.headers["Retry-After"] == "239"   # 300 s after the 2nd, 61 s ago
        clock.tick(timedelta(seconds=300))
        assert _post(client, value="0.2").status_code == 303          # third and last
        clock.tick(timedelta(seconds=3600))
        r = _post(client, value="0.9")
        assert r.status_code == 403 and "No attempts left" in r.get_data(as_text=True)
    statuses = [s for s, _, _ in _log(live)]
    assert statuses == ["graded", "rate_limited", "graded", "rate_limited", "graded", "rejected"]


def test_solved_question_refuses_more(challenge, client):
    add_artifact(challenge, "test-puzzle", "fig", {"mean_cos": 0.9})
    assert _post(client, value="0.9").status_code == 303
    r = _post(client, value="0.8")
    assert r.status_code == 409 and "already answered" in r.get_data(as_text=True)


def test_hint_too_high(app, client, puzzles_dir, sync, auth):
    write_puzzle(puzzles_dir, questions=question_toml(
        "mean", "p", mode="challenge", grader="abs_tol", grader_params={"tolerance": 0.01, "hint": True},
        statistic="fig.mean_cos"))
    sync()
    auth.register("sam")
    add_artifact(app, "test-puzzle", "fig", {"mean_cos": 0.3})
    _post(client, value="0.5")
    assert "Incorrect: too high." in client.get("/puzzles/test-puzzle").get_data(as_text=True)


def test_forecast_revisions_have_no_waits_and_a_cap(app, client, puzzles_dir, sync, auth):
    """A forecast takes revisions back to back (no feedback, so nothing to wait for) until
    its cap; every version stays in the log, none is graded before the reveal."""
    write_puzzle(puzzles_dir, questions=mean_question(max_attempts=3))
    sync()
    auth.register("sam")
    add_artifact(app, "test-puzzle", "fig", {"mean_cos": 0.9})
    for value in ("0.1", "0.2", "0.3"):
        assert _post(client, value=value).status_code == 303
    page = client.get("/puzzles/test-puzzle").get_data(as_text=True)
    assert "No revisions left: your last prediction stands." in page and "0.3" in page
    r = _post(client, value="0.9")
    assert r.status_code == 403 and "3 revisions of a prediction" in r.get_data(as_text=True)
    assert [(s, p.get("value")) for s, _, p in _log(app)] == [
        ("pending", 0.1), ("pending", 0.2), ("pending", 0.3), ("rejected", "0.9")]


def test_choice_and_text_questions(app, client, puzzles_dir, sync, auth):
    write_puzzle(puzzles_dir, figures="", questions=(
        question_toml("pick", "Which?", kind="choice", grader="choice", choices=["a big mean", "low rank"],
                      truth="a big mean", max_attempts=1)
        + text_question("Centre Your Data", prompt="Name it")))
    sync()
    auth.register("sam")
    assert _post(client, key="pick", choice="not an option").status_code == 400
    assert _post(client, key="pick", choice="a big mean").status_code == 303
    assert _post(client, key="word", text="  centre   your data ").status_code == 303
    with app.app_context():
        graded = db.session.scalars(sa.select(Submission).where(Submission.status == "graded")).all()
        assert sorted(s.correct for s in graded) == [True, True]


def test_a_rejected_attempt_stores_a_bounded_copy(live, client):
    huge = "9" * 1000
    r = _post(client, value=huge + "x", lower=huge, upper=huge, junk=huge)
    assert r.status_code == 400
    [(status, _, payload)] = _log(live)
    assert status == "rejected"
    assert set(payload) <= {"value", "lower", "upper"} and sum(len(v) for v in payload.values()) <= 600


@pytest.fixture
def roomy(app, puzzles_dir, sync, auth):
    """A live forecast that takes many revisions: only the rate limit stops them."""
    write_puzzle(puzzles_dir, questions=mean_question(max_attempts=50))
    sync()
    auth.register("sam")
    return app


def test_web_and_api_answers_share_the_per_user_limit(roomy, client):
    from tests.helpers import issue_token

    live = roomy
    live.config["SUBMISSIONS_PER_MINUTE"] = 3
    token = issue_token(live, "sam")
    with freeze_time(utcnow().replace(second=1, microsecond=0) + timedelta(minutes=1)):
        assert _post(client, value="0.1").status_code == 303
        api = client.post("/api/v1/puzzles/test-puzzle/questions/mean/submissions", json={"value": 0.2},
                          headers={"Authorization": f"Bearer {token}"})
        assert api.status_code == 202
        assert _post(client, value="0.3").status_code == 303
        r = _post(client, value="0.4")
        assert r.status_code == 429 and 0 < int(r.headers["Retry-After"]) <= 60
        assert "Too many submissions" in r.get_data(as_text=True)
    assert [p["value"] for _, _, p in _log(live)] == [0.1, 0.2, 0.3]


def test_parallel_web_answers_stop_at_the_limit(roomy):
    import threading

    live = roomy
    live.config["SUBMISSIONS_PER_MINUTE"] = 4
    clients = []
    for _ in range(10):
        c = live.test_client()
        c.post("/login", data={"csrf_token": csrf_token(c), "username": "sam", "password": "correct horse battery"})
        clients.append((c, csrf_token(c, "/login")))
    statuses, lock, barrier = [], threading.Lock(), threading.Barrier(10)

    def answer(c, token):
        barrier.wait()
        r = c.post("/puzzles/test-puzzle/questions/mean", data={"csrf_token": token, "value": "0.5"})
        with lock:
            statuses.append(r.status_code)

    with freeze_time(utcnow().replace(second=1, microsecond=0) + timedelta(minutes=1)):
        threads = [threading.Thread(target=answer, args=pair) for pair in clients]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    assert sorted(statuses) == [303] * 4 + [429] * 6
    assert len(_log(live)) == 4
