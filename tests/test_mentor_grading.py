"""Grading control: a question's attempts with filters and pages, regrading, overrides with a
reason (logged, scored, shown to the scholar), removing them, and the CSV export.

The question is a forecast (scored at the reveal), so the fixture records the predictions
while the puzzle is live and then moves the clock past the reveal."""
from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from freezegun import freeze_time

from puzzle_platform.extensions import db
from puzzle_platform.grading.leaderboard import standings
from puzzle_platform.models import GradeChange, Question, Score, Submission, User
from tests.helpers import add_artifact, write_puzzle
from tests.test_mentor_authoring import login_as, page_text, post, token

URL = "/mentor/puzzles/test-puzzle/questions/mean/submissions"


def _answer(client, auth, username: str, value: str, display_name: str | None = None):
    auth.register(username, display_name=display_name)
    resp = client.post("/puzzles/test-puzzle/questions/mean", data={"csrf_token": token(client), "value": value})
    auth.logout()
    return resp


LIVE_AT = datetime.now(timezone.utc)           # write_puzzle's "live" schedule is relative to now
REVEALED_AT = LIVE_AT + timedelta(days=2, hours=1)


@pytest.fixture
def clock():
    with freeze_time(LIVE_AT) as frozen:
        yield frozen


@pytest.fixture
def graded(app, client, auth, puzzles_dir, sync, clock) -> dict[str, int]:
    """While live: alice right (10 points at the reveal); bob refused (not a number), then a
    prediction worth 2 points; then the clock moves past the reveal and a mentor logs in."""
    write_puzzle(puzzles_dir)
    sync()
    add_artifact(app, "test-puzzle", "fig", {"mean_cos": 0.5})
    _answer(client, auth, "alice", "0.5")
    auth.register("bob")
    for value in ("oops", "0.9"):
        client.post("/puzzles/test-puzzle/questions/mean", data={"csrf_token": token(client), "value": value})
    auth.logout()
    clock.move_to(REVEALED_AT)
    login_as(auth, "mentor")
    client.get("/leaderboard")  # the first read after the reveal scores the forecasts
    with app.app_context():
        rows = db.session.execute(sa.select(User.username, Submission.id, Submission.status)
                                  .join(User, User.id == Submission.user_id).order_by(Submission.id)).all()
    assert [(u, s) for u, _, s in rows] == [("alice", "graded"), ("bob", "rejected"), ("bob", "graded")]
    return {"alice": rows[0][1], "rejected": rows[1][1], "bob": rows[2][1]}


def _ids(resp) -> list[int]:
    text = resp.get_data(as_text=True)
    return sorted(int(part.split('"')[0]) for part in text.split('<tr id="sub-')[1:])


def sub(app, sub_id: int) -> Submission:
    with app.app_context():
        return db.session.get(Submission, sub_id)


def score_of(app, username: str) -> float | None:
    with app.app_context():
        return db.session.scalar(sa.select(Score.points).join(User, User.id == Score.user_id)
                                 .where(User.username == username))


def test_submissions_list_and_filters(app, client, graded):
    everything = client.get(URL)
    assert everything.status_code == 200 and len(_ids(everything)) == 3
    text = page_text(everything)
    assert "truth (mentors only): <strong class=\"truth\">0.5</strong>" in text and "3 attempt(s)" in text
    today, day = LIVE_AT.date(), timedelta(days=1)
    cases = {
        "status=graded": [graded["alice"], graded["bob"]],
        "status=rejected": [graded["rejected"]],
        "user=ALI": [graded["alice"]],
        "user=Bob": [graded["bob"], graded["rejected"]],
        "status=rate_limited": [],
        "correct=yes": [graded["alice"]],
        "correct=no": [graded["bob"]],
        "status=graded&user=bob&correct=no": [graded["bob"]],
        f"since={today - day}&until={today + day}": list(graded.values()),
        f"since={today + day}": [],
        f"until={today - day}": [],
    }
    for query, expected in cases.items():
        resp = client.get(f"{URL}?{query}")
        assert resp.status_code == 200 and _ids(resp) == sorted(expected), query


@pytest.mark.parametrize("query, reason", [
    ("status=bogus", "status must be one of"),
    ("correct=maybe", "correct must be yes or no"),
    ("since=yesterday", "since must be a date"),
    ("since=2026-02-02&until=2026-01-01", "since must not be after until"),
])
def test_bad_filters_are_400_with_reason(app, client, graded, query, reason):
    resp = client.get(f"{URL}?{query}")
    assert resp.status_code == 400 and reason in page_text(resp)


def test_pagination(app, client, graded):
    with app.app_context():
        question = db.session.scalar(sa.select(Question))
        bob = db.session.scalar(sa.select(User).where(User.username == "bob"))
        for i in range(56):
            db.session.add(Submission(user_id=bob.id, question_id=question.id, puzzle_id=question.puzzle_id,
                                      payload={"value": i}, status="rejected", feedback="seeded"))
        db.session.commit()
    first = client.get(f"{URL}?status=rejected")
    assert len(_ids(first)) == 50 and "page 1 of 2" in page_text(first)
    assert "page=2" in page_text(first) and "status=rejected" in page_text(first)
    second = client.get(f"{URL}?status=rejected&page=2")
    assert len(_ids(second)) == 7 and not set(_ids(first)) & set(_ids(second))


def test_regrade_reports_changes_and_logs_them(app, client, graded):
    with app.app_context():  # the definition drifted from the stored grades (e.g. edited in the DB)
        question = db.session.scalar(sa.select(Question))
        question.grader_params = {**question.grader_params, "scale": 1.0}
        db.session.commit()
    resp = post(client, "/mentor/puzzles/test-puzzle/questions/mean/regrade", follow_redirects=True)
    assert resp.status_code == 200 and "Regraded mean: 1 attempt(s) changed." in page_text(resp)
    assert sub(app, graded["bob"]).points == pytest.approx(6.0) and score_of(app, "bob") == pytest.approx(6.0)
    with app.app_context():
        change = db.session.scalar(sa.select(GradeChange).order_by(GradeChange.id.desc()))
        assert change.submission_id == graded["bob"] and "requested by mentor1" in change.reason
    again = post(client, "/mentor/puzzles/test-puzzle/questions/mean/regrade", follow_redirects=True)
    assert "0 attempt(s) changed" in page_text(again)


def test_regrade_without_truth_is_409(app, client, auth, puzzles_dir, sync):
    write_puzzle(puzzles_dir)
    sync()
    login_as(auth, "mentor")
    resp = post(client, "/mentor/puzzles/test-puzzle/questions/mean/regrade")
    assert resp.status_code == 409 and "not computed yet" in page_text(resp)


def test_override_scores_logs_and_shows_the_reason_to_the_scholar(app, client, auth, graded):
    bob = graded["bob"]
    resp = post(client, f"/mentor/submissions/{bob}/override",
                {"points": "7.5", "reason": "Right method, <b>arithmetic</b> slip"})
    assert resp.status_code == 303 and resp.headers["Location"].endswith(f"{URL}#sub-{bob}")
    row = sub(app, bob)
    assert (row.points, row.override_points, row.override_reason) == (7.5, 7.5, "Right method, <b>arithmetic</b> slip")
    with app.app_context():
        mentor_id = db.session.scalar(sa.select(User.id).where(User.username == "mentor1"))
        change = db.session.scalar(sa.select(GradeChange).order_by(GradeChange.id.desc()))
        assert (change.old_points, change.new_points) == (pytest.approx(2.0), 7.5)
        assert change.reason == "override by mentor1: Right method, <b>arithmetic</b> slip"
        assert [(e.display_name, e.points) for e in standings()] == [("Alice", 10.0), ("Bob", 7.5)]
    assert row.overridden_by == mentor_id and score_of(app, "bob") == 7.5
    # A regrade leaves the override alone.
    post(client, "/mentor/puzzles/test-puzzle/questions/mean/regrade")
    assert sub(app, bob).points == 7.5
    auth.logout()
    auth.login("bob")
    raw = client.get("/puzzles/test-puzzle").get_data(as_text=True)
    assert "overridden by mentor: Right method, &lt;b&gt;arithmetic&lt;/b&gt; slip" in raw
    auth.logout()
    auth.login("alice")
    assert "overridden by mentor" not in page_text(client.get("/puzzles/test-puzzle"))


@pytest.mark.parametrize("data, reason", [
    ({"points": "", "reason": "r"}, "points must be a number from 0 to 10"),
    ({"points": "abc", "reason": "r"}, "points must be a number from 0 to 10"),
    ({"points": "-1", "reason": "r"}, "points must be a number from 0 to 10"),
    ({"points": "10.5", "reason": "r"}, "points must be a number from 0 to 10"),
    ({"points": "nan", "reason": "r"}, "points must be a number from 0 to 10"),
    ({"points": "inf", "reason": "r"}, "points must be a number from 0 to 10"),
    ({"points": "5", "reason": "   "}, "give a reason"),
    ({"points": "5"}, "give a reason"),
    ({"points": "5", "reason": "x" * 1001}, "at most 1000 characters"),
])
def test_bad_override_is_400_and_changes_nothing(app, client, graded, data, reason):
    before = sub(app, graded["bob"])
    with app.app_context():
        changes = db.session.scalar(sa.select(sa.func.count()).select_from(GradeChange))
    resp = post(client, f"/mentor/submissions/{graded['bob']}/override", data)
    assert resp.status_code == 400 and reason in page_text(resp)
    after = sub(app, graded["bob"])
    assert (after.points, after.override_points, after.override_reason) == (before.points, None, None)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(GradeChange)) == changes


def test_override_only_graded_attempts(app, client, graded):
    resp = post(client, f"/mentor/submissions/{graded['rejected']}/override", {"points": "5", "reason": "r"})
    assert resp.status_code == 409 and "only graded attempts can be overridden" in page_text(resp)
    assert sub(app, graded["rejected"]).override_points is None
    assert post(client, "/mentor/submissions/999999/override", {"points": "5", "reason": "r"}).status_code == 404


def test_remove_override_gives_the_grade_back(app, client, auth, graded):
    bob = graded["bob"]
    resp = post(client, f"/mentor/submissions/{bob}/override/remove")
    assert resp.status_code == 409 and "no override to remove" in page_text(resp)
    post(client, f"/mentor/submissions/{bob}/override", {"points": "9", "reason": "generous"})
    assert score_of(app, "bob") == 9.0
    resp = post(client, f"/mentor/submissions/{bob}/override/remove", follow_redirects=True)
    assert resp.status_code == 200 and "counts the grader's 2 points again" in page_text(resp)
    row = sub(app, bob)
    assert (row.points, row.override_points, row.override_reason, row.overridden_by) == \
        (pytest.approx(2.0), None, None, None)
    assert score_of(app, "bob") == pytest.approx(2.0)
    with app.app_context():
        reasons = db.session.scalars(sa.select(GradeChange.reason).where(GradeChange.submission_id == bob)
                                     .order_by(GradeChange.id)).all()
    assert reasons == ["graded: scored at the reveal", "override by mentor1: generous",
                       "override removed by mentor1"]
    auth.logout()
    auth.login("bob")
    assert "overridden by mentor" not in page_text(client.get("/puzzles/test-puzzle"))


def test_remove_override_catches_up_with_a_new_truth(app, client, graded):
    bob = graded["bob"]
    post(client, f"/mentor/submissions/{bob}/override", {"points": "9", "reason": "generous"})
    add_artifact(app, "test-puzzle", "fig", {"mean_cos": 0.8}, revision="r2")  # regrade skips bob
    assert sub(app, bob).points == 9.0
    post(client, f"/mentor/submissions/{bob}/override/remove")
    assert sub(app, bob).points == pytest.approx(8.0)  # 0.9 against 0.8: score 0.8


def test_csv_export(app, client, auth, graded, clock):
    auth.logout()
    clock.move_to(LIVE_AT + timedelta(hours=1))  # eve predicts before the deadline
    _answer(client, auth, "eve", "0.4", display_name="=HYPERLINK(\"http://x\")")
    clock.move_to(REVEALED_AT)
    auth.login("mentor1")
    client.get("/leaderboard")
    post(client, f"/mentor/submissions/{graded['bob']}/override", {"points": "4", "reason": "partial"})
    resp = client.get("/mentor/puzzles/test-puzzle/submissions.csv")
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    assert 'filename="submissions-test-puzzle.csv"' in resp.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(resp.get_data(as_text=True))))
    assert list(rows[0]) == ["username", "display_name", "question", "payload", "status", "score", "points",
                             "correct", "override", "override_reason", "counted", "created_at", "graded_at"]
    assert [(r["username"], r["status"]) for r in rows] == [
        ("alice", "graded"), ("bob", "rejected"), ("bob", "graded"), ("eve", "graded")]
    alice, bob, eve = rows[0], rows[2], rows[3]
    assert (alice["question"], json.loads(alice["payload"]), alice["points"], alice["correct"], alice["counted"]) == \
        ("mean", {"lower": None, "upper": None, "value": 0.5}, "10.0", "True", "True")
    assert (bob["points"], bob["override"], bob["override_reason"], bob["correct"]) == ("4.0", "4.0", "partial", "False")
    assert rows[1]["counted"] == "False" and rows[1]["score"] == "" and rows[1]["graded_at"] == ""
    assert alice["created_at"].endswith("Z") and alice["graded_at"].endswith("Z")
    assert eve["display_name"] == "'=HYPERLINK(\"http://x\")"  # not run as a formula by spreadsheets


def test_unknown_question_is_404(app, client, graded):
    assert client.get("/mentor/puzzles/test-puzzle/questions/nope/submissions").status_code == 404
    assert client.get("/mentor/puzzles/nope/submissions.csv").status_code == 404
