"""The /api/v1 JSON API through Flask's test client: token auth, visibility, submitting with
every refusal, the reveal rule, the leaderboard scopes and the rate limits."""
from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from freezegun import freeze_time

from puzzle_platform.extensions import db
from puzzle_platform.models import ApiToken, Submission
from puzzle_platform.timeutil import utcnow
from tests.helpers import (CHOICE_AND_TEXT_TOML, MEAN_QUESTION_TOML, TWO_FIGURES, add_artifact, add_cohort, after_reveal,
                           challenge_mean, issue_token, mean_question,
                           write_puzzle)

TRUTH = 0.7312345  # distinctive, so that a leak shows up in the raw response text
ANSWER = "SECRET-ANSWER-TEXT"
SUBMIT = "/api/v1/puzzles/test-puzzle/questions/mean/submissions"

def _h(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def _submissions(app) -> list[Submission]:
    with app.app_context():
        return list(db.session.scalars(sa.select(Submission).order_by(Submission.id)))


@pytest.fixture
def live(app, puzzles_dir, sync):
    """A live puzzle with ground truth (a forecast "mean", a challenge "guess" on the same
    statistic), and a scholar's token."""
    write_puzzle(puzzles_dir, figures=TWO_FIGURES,
                 questions=MEAN_QUESTION_TOML + challenge_mean("guess", "fig2", max_attempts=3))
    sync()
    add_artifact(app, "test-puzzle", "fig", {"mean_cos": TRUTH})
    add_artifact(app, "test-puzzle", "fig2", {"mean_cos": TRUTH})
    return issue_token(app, "ada")


# --- authentication ----------------------------------------------------------------------

@pytest.mark.parametrize("headers, reason", [
    ({}, "Missing API token"),
    ({"Authorization": "Bearer mip_not-a-real-token"}, "Unknown API token"),
    ({"Authorization": "Basic YWRhOnB3"}, "Malformed"),
    ({"Authorization": "Bearer "}, "Malformed"),
])
def test_requests_without_a_valid_token_are_401(client, live, headers, reason):
    for path in ("/api/v1/me", "/api/v1/puzzles", "/api/v1/leaderboard"):
        r = client.get(path, headers=headers)
        assert r.status_code == 401
        assert r.headers["WWW-Authenticate"].startswith("Bearer")
        body = r.get_json()
        assert body["error"]["status"] == 401 and reason in body["error"]["message"]
    r = client.post(SUBMIT, json={"value": 0.5}, headers=headers)
    assert r.status_code == 401


def test_revoked_token_is_401_and_last_used_is_recorded(app, client, live):
    assert client.get("/api/v1/me", headers=_h(live)).get_json() == {
        "username": "ada", "display_name": "Ada", "role": "scholar"}
    with app.app_context():
        row = db.session.scalar(sa.select(ApiToken).where(ApiToken.token_hash == ApiToken.hash(live)))
        assert row.last_used_at is not None
        row.revoked_at = utcnow()
        db.session.commit()
    r = client.get("/api/v1/me", headers=_h(live))
    assert r.status_code == 401 and "revoked" in r.get_json()["error"]["message"]
    r = client.post(SUBMIT, json={"value": 0.5}, headers=_h(live))
    assert r.status_code == 401 and _submissions(app) == []


def test_browser_session_is_not_enough(client, auth, live):
    auth.register("sessionuser")
    r = client.get("/api/v1/me")
    assert r.status_code == 401
    r = client.post(SUBMIT, json={"value": 0.5})
    assert r.status_code == 401  # and not a CSRF 400: the API reads no cookies


def test_openapi_document_is_public(client):
    r = client.get("/api/v1/openapi.json")
    assert r.status_code == 200
    doc = r.get_json()
    assert doc["openapi"].startswith("3.1")
    assert doc["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert "/api/v1/puzzles/{slug}/questions/{key}/submissions" in doc["paths"]


# --- reading puzzles ---------------------------------------------------------------------

def test_list_and_read_a_live_puzzle(app, client, puzzles_dir, sync, live):
    write_puzzle(puzzles_dir, number=2, slug="later", state="upcoming")
    sync()
    listed = client.get("/api/v1/puzzles", headers=_h(live)).get_json()["puzzles"]
    assert [p["slug"] for p in listed] == ["test-puzzle"]
    assert set(listed[0]) == {"slug", "number", "title", "summary", "state", "release_at",
                              "deadline_at", "reveal_at"}
    assert listed[0]["state"] == "live" and listed[0]["release_at"].endswith("Z")

    r = client.get("/api/v1/puzzles/test-puzzle", headers=_h(live))
    body = r.get_json()
    assert r.headers["Cache-Control"] == "no-store"
    assert body["statement_md"].startswith("Look at the figure")
    fig = body["figures"][0]
    assert fig["key"] == "fig" and fig["figure"]["data"][0]["type"] == "bar"
    assert fig["provenance"]["model"] == "tiny" and fig["version"] == 1
    q = body["questions"][0]
    assert (q["key"], q["kind"], q["points"], q["max_attempts"], q["attempts_left"], q["solved"]) == \
        ("mean", "numeric", 10, 3, 3, False)
    assert "truth" not in q and "answer_md" not in body
    assert str(TRUTH) not in r.get_data(as_text=True) and ANSWER not in r.get_data(as_text=True)


def test_upcoming_puzzles_are_404_for_scholars_and_visible_to_mentors(app, client, puzzles_dir, sync):
    write_puzzle(puzzles_dir, state="upcoming")
    sync()
    scholar, mentor = issue_token(app, "sam"), issue_token(app, "meg", role="mentor")
    assert client.get("/api/v1/puzzles", headers=_h(scholar)).get_json()["puzzles"] == []
    for path, method in (("/api/v1/puzzles/test-puzzle", "get"), (SUBMIT, "post"),
                         ("/api/v1/me/submissions?puzzle=test-puzzle", "get"),
                         ("/api/v1/leaderboard?puzzle=test-puzzle", "get")):
        r = getattr(client, method)(path, headers=_h(scholar), json={"value": 0.5})
        assert r.status_code == 404, path
        assert r.get_json()["error"]["status"] == 404
    assert _submissions(app) == []
    assert [p["state"] for p in client.get("/api/v1/puzzles", headers=_h(mentor)).get_json()["puzzles"]] == ["upcoming"]
    body = client.get("/api/v1/puzzles/test-puzzle", headers=_h(mentor)).get_json()
    assert body["state"] == "upcoming" and ANSWER in body["answer_md"]  # mentors see the answer
    assert client.get("/api/v1/puzzles/nope", headers=_h(mentor)).status_code == 404


@pytest.mark.parametrize("state", ["live", "closed"])
def test_truth_and_answer_never_sent_to_scholars_before_the_reveal(app, client, puzzles_dir, sync, state):
    write_puzzle(puzzles_dir, state=state, questions=CHOICE_AND_TEXT_TOML + mean_question())
    sync()
    add_artifact(app, "test-puzzle", "fig", {"mean_cos": TRUTH})
    token = issue_token(app, "ada")
    if state == "live":
        client.post("/api/v1/puzzles/test-puzzle/questions/mean/submissions", json={"value": 0.1},
                    headers=_h(token))
        client.post("/api/v1/puzzles/test-puzzle/questions/word/submissions", json={"text": "horse"},
                    headers=_h(token))
    texts = [client.get(path, headers=_h(token)).get_data(as_text=True) for path in (
        "/api/v1/puzzles", "/api/v1/puzzles/test-puzzle", "/api/v1/me/submissions",
        "/api/v1/me/submissions?puzzle=test-puzzle", "/api/v1/leaderboard",
        "/api/v1/leaderboard?puzzle=test-puzzle")]
    for text in texts:
        for secret in (str(TRUTH), ANSWER, "Zebra-Unique-Word", '"truth"', "answer_md"):
            assert secret not in text
    # mentors may see them before the reveal
    mentor_token = issue_token(app, "meg", role="mentor")
    mentor = client.get("/api/v1/puzzles/test-puzzle", headers=_h(mentor_token)).get_json()
    assert {q["key"]: q["truth"] for q in mentor["questions"]}["mean"] == TRUTH
    assert ANSWER in mentor["answer_md"]


def test_truth_and_answer_after_the_reveal(app, client, puzzles_dir, sync):
    write_puzzle(puzzles_dir, state="revealed", questions=CHOICE_AND_TEXT_TOML)
    sync()
    token = issue_token(app, "ada")
    body = client.get("/api/v1/puzzles/test-puzzle", headers=_h(token)).get_json()
    assert body["revealed"] is True and ANSWER in body["answer_md"]
    assert {q["key"]: q["truth"] for q in body["questions"]} == {"pick": "beta", "word": "Zebra-Unique-Word"}


# --- submitting ----------------------------------------------------------------------------

def test_forecast_is_recorded_then_scored_after_the_reveal(app, client, live):
    r = client.post(SUBMIT, json={"value": "0.5", "lower": 0.4, "upper": "0.8"}, headers=_h(live))
    assert r.status_code == 202, r.get_json()
    sub = r.get_json()
    assert sub["status"] == "pending" and sub["puzzle"] == "test-puzzle" and sub["question"] == "mean"
    assert sub["payload"] == {"value": 0.5, "lower": 0.4, "upper": 0.8}
    assert (sub["score"], sub["points"], sub["correct"], sub["graded_at"]) == (None, None, None, None)
    assert "scored at the reveal" in sub["feedback"] and sub["attempt_no"] == 1
    assert str(TRUTH) not in r.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Submission, sub["id"]).source == "api"
    mine = client.get("/api/v1/me/submissions?puzzle=test-puzzle", headers=_h(live)).get_json()
    assert [s["id"] for s in mine["submissions"]] == [sub["id"]]
    q = client.get("/api/v1/puzzles/test-puzzle", headers=_h(live)).get_json()["questions"][0]
    assert q["attempts_left"] == 2 and q["mode"] == "forecast"
    assert q["current_prediction"] == {"value": 0.5, "lower": 0.4, "upper": 0.8}
    with after_reveal():
        mine = client.get("/api/v1/me/submissions?puzzle=test-puzzle", headers=_h(live)).get_json()
    graded = mine["submissions"][0]
    assert graded["status"] == "graded" and 0 < graded["points"] <= 10 and graded["graded_at"].endswith("Z")


def test_submit_without_truth_is_pending_202(app, client, puzzles_dir, sync):
    write_puzzle(puzzles_dir)
    sync()
    token = issue_token(app, "ada")
    r = client.post(SUBMIT, json={"value": 0.9, "lower": 0.8, "upper": 0.95}, headers=_h(token))
    assert r.status_code == 202
    assert r.get_json()["status"] == "pending" and r.get_json()["points"] is None


def test_choice_and_text_answers(app, client, puzzles_dir, sync):
    write_puzzle(puzzles_dir, questions=CHOICE_AND_TEXT_TOML)
    sync()
    token = issue_token(app, "ada")
    base = "/api/v1/puzzles/test-puzzle/questions"
    r = client.post(f"{base}/pick/submissions", json={"choice": "gamma"}, headers=_h(token))
    assert r.status_code == 400 and "listed options" in r.get_json()["error"]["message"]
    r = client.post(f"{base}/pick/submissions", json={"choice": "beta"}, headers=_h(token))
    assert r.status_code == 201 and r.get_json()["correct"] is True
    r = client.post(f"{base}/pick/submissions", json={"choice": "beta"}, headers=_h(token))
    assert r.status_code == 409 and "already answered" in r.get_json()["error"]["message"]
    r = client.post(f"{base}/word/submissions", json={"text": " zebra-unique-word "}, headers=_h(token))
    assert r.status_code == 201 and r.get_json()["correct"] is True


@pytest.mark.parametrize("body, message", [
    ({"value": "NaN"}, "finite"),
    ({"value": "inf"}, "finite"),
    ({"value": 1e308 * 10}, "finite"),      # serialised as Infinity by json.dumps
    ({"value": 10 ** 400}, "finite"),       # an integer too large for a float
    ({"value": "about 0.7"}, "must be a number"),
    ({"value": True}, "true/false"),
    ({"value": [0.7]}, "must be a number"),
    ({"value": 0.5, "lower": 0.9, "upper": 0.6}, "lower end"),
    ({"value": 0.95, "lower": 0.1, "upper": 0.6}, "inside your interval"),
    ({"value": 0.5, "lower": 0.4}, "both ends"),
    ({}, "Enter a number"),
])
def test_bad_answers_are_400_and_logged_as_rejected(app, client, live, body, message):
    r = client.post(SUBMIT, json=body, headers=_h(live))
    assert r.status_code == 400
    assert message in r.get_json()["error"]["message"]
    subs = _submissions(app)
    assert [(s.status, s.attempt_no, s.source) for s in subs] == [("rejected", None, "api")]
    q = client.get("/api/v1/puzzles/test-puzzle", headers=_h(live)).get_json()["questions"][0]
    assert q["attempts_left"] == 3  # a refused attempt costs nothing


@pytest.mark.parametrize("raw", ['{"value": NaN}', '{"value": -Infinity, "lower": 0, "upper": 1}'])
def test_nan_and_infinity_literals_are_refused(app, client, live, raw):
    r = client.post(SUBMIT, data=raw, content_type="application/json", headers=_h(live))
    assert r.status_code == 400 and "finite" in r.get_json()["error"]["message"]
    assert [s.status for s in _submissions(app)] == ["rejected"]


@pytest.mark.parametrize("raw", ["", "not json", "[0.5]", "0.5", '"0.5"', "null", '{"value": 1',
                                 "[" * 100_000, b"\xff\xfe\x00"])
def test_a_body_that_is_not_a_json_object_is_400_and_not_logged(app, client, live, raw):
    r = client.post(SUBMIT, data=raw, content_type="application/json", headers=_h(live))
    assert r.status_code == 400
    assert "body must be a JSON object" in r.get_json()["error"]["message"]
    assert _submissions(app) == []


def test_unknown_question_is_404_and_logged(app, client, live):
    r = client.post("/api/v1/puzzles/test-puzzle/questions/nope/submissions", json={"value": 1},
                    headers=_h(live))
    assert r.status_code == 404 and "Unknown question" in r.get_json()["error"]["message"]
    assert [(s.status, s.question_id) for s in _submissions(app)] == [("rejected", None)]
    mine = client.get("/api/v1/me/submissions", headers=_h(live)).get_json()["submissions"]
    assert mine[0]["question"] is None and mine[0]["payload"]["question"] == "nope"


def test_unknown_puzzle_is_404(client, live):
    r = client.post("/api/v1/puzzles/nope/questions/mean/submissions", json={"value": 1}, headers=_h(live))
    assert r.status_code == 404
    assert client.get("/api/v1/me/submissions?puzzle=nope", headers=_h(live)).status_code == 404


def test_closed_puzzle_is_403(app, client, puzzles_dir, sync):
    write_puzzle(puzzles_dir, state="closed")
    sync()
    token = issue_token(app, "ada")
    r = client.post(SUBMIT, json={"value": 0.5}, headers=_h(token))
    assert r.status_code == 403 and "closed" in r.get_json()["error"]["message"]


def test_wrong_answer_wait_is_429_with_retry_after_then_no_attempts_left(app, client, live):
    SUBMIT = "/api/v1/puzzles/test-puzzle/questions/guess/submissions"  # a challenge
    t0 = utcnow()
    with freeze_time(t0) as clock:
        assert client.post(SUBMIT, json={"value": -0.9}, headers=_h(live)).get_json()["correct"] is False
        r = client.post(SUBMIT, json={"value": -0.8}, headers=_h(live))
        assert r.status_code == 429 and r.headers["Retry-After"] == "60"
        assert "wait 60 s" in r.get_json()["error"]["message"]
        q = client.get("/api/v1/puzzles/test-puzzle", headers=_h(live)).get_json()["questions"][1]
        assert q["wait_until"] is not None and q["mode"] == "challenge"
        clock.tick(timedelta(seconds=61))
        assert client.post(SUBMIT, json={"value": -0.8}, headers=_h(live)).status_code == 201
        clock.tick(timedelta(seconds=301))
        assert client.post(SUBMIT, json={"value": -0.7}, headers=_h(live)).status_code == 201
        clock.tick(timedelta(seconds=601))
        r = client.post(SUBMIT, json={"value": 0.7}, headers=_h(live))
        assert r.status_code == 403 and "No attempts left" in r.get_json()["error"]["message"]
    statuses = [s.status for s in _submissions(app)]
    assert statuses == ["graded", "rate_limited", "graded", "graded", "rejected"]


# --- leaderboard -----------------------------------------------------------------------

def test_leaderboard_scopes_and_cohort_privacy(app, client, live):
    client.post("/api/v1/puzzles/test-puzzle/questions/guess/submissions", json={"value": TRUTH}, headers=_h(live))
    board = client.get("/api/v1/leaderboard?puzzle=test-puzzle", headers=_h(live)).get_json()
    assert board["scope"] == {"puzzle": "test-puzzle", "cohort": None}
    assert [(e["rank"], e["display_name"], e["points"]) for e in board["entries"]] == [(1, "Ada", 10)]
    assert board == client.get("/leaderboard.json?puzzle=test-puzzle").get_json()  # one rule, one shape

    outsider, mentor = issue_token(app, "out"), issue_token(app, "meg", role="mentor")
    add_cohort(app, "mats", "MATS", ["ada"], leaderboard_private=True)
    url = "/api/v1/leaderboard?cohort=mats"
    assert [e["display_name"] for e in client.get(url, headers=_h(live)).get_json()["entries"]] == ["Ada"]
    assert client.get(url, headers=_h(mentor)).status_code == 200
    r = client.get(url, headers=_h(outsider))
    assert r.status_code == 403 and "members and mentors" in r.get_json()["error"]["message"]
    assert client.get("/api/v1/leaderboard?cohort=nope", headers=_h(live)).status_code == 404


def test_my_submissions_are_only_mine(app, client, live):
    other = issue_token(app, "bob")
    client.post(SUBMIT, json={"value": 0.1}, headers=_h(other))
    assert client.get("/api/v1/me/submissions", headers=_h(live)).get_json() == {"submissions": []}
    assert len(client.get("/api/v1/me/submissions", headers=_h(other)).get_json()["submissions"]) == 1


# --- rate limits -----------------------------------------------------------------------

def test_request_rate_limit_per_token(app, client, live):
    REQUESTS_PER_MINUTE = app.config["API_REQUESTS_PER_MINUTE"]
    other = issue_token(app, "bob")
    with freeze_time(utcnow().replace(second=5)):
        for _ in range(REQUESTS_PER_MINUTE):
            assert client.get("/api/v1/me", headers=_h(live)).status_code == 200
        r = client.get("/api/v1/me", headers=_h(live))
        assert r.status_code == 429 and r.headers["Retry-After"] == "55"
        assert "per minute" in r.get_json()["error"]["message"]
        assert client.get("/api/v1/me", headers=_h(other)).status_code == 200  # per token
    with freeze_time(utcnow().replace(second=5) + timedelta(minutes=1)):
        assert client.get("/api/v1/me", headers=_h(live)).status_code == 200


def test_submission_rate_limit_per_token(app, client, live):
    SUBMISSIONS_PER_MINUTE = app.config["API_SUBMISSIONS_PER_MINUTE"]
    with freeze_time(utcnow().replace(second=0)):
        for _ in range(SUBMISSIONS_PER_MINUTE):
            assert client.post(SUBMIT, json={"value": "x"}, headers=_h(live)).status_code == 400
        r = client.post(SUBMIT, json={"value": 0.7}, headers=_h(live))
        assert r.status_code == 429 and r.headers["Retry-After"] == "60"
        assert "submissions per minute" in r.get_json()["error"]["message"]
    assert len(_submissions(app)) == SUBMISSIONS_PER_MINUTE  # the refused request is not an attempt
