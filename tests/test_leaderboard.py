"""Ranking rules, scopes, privacy and exports of the leaderboard.

The mean questions are forecasts: predictions are made while the puzzles are live and the
boards are read after the reveal (after_reveal), when they count."""
from datetime import timedelta

import sqlalchemy as sa
from freezegun import freeze_time

from puzzle_platform.extensions import db
from puzzle_platform.models import Score, UserTotal
from puzzle_platform.timeutil import utcnow
from tests.helpers import (add_artifact, add_cohort, after_reveal, challenge_mean, csrf_token,
                           question_toml, write_puzzle)


def _submit(client, auth, user, value, slug="test-puzzle"):
    auth.login(user)
    r = client.post(f"/puzzles/{slug}/questions/mean", data={"csrf_token": csrf_token(client), "value": value})
    auth.logout()
    return r


def _setup(app, auth, puzzles_dir, sync, users=("ann", "ben", "cat")):
    write_puzzle(puzzles_dir)
    write_puzzle(puzzles_dir, number=2, slug="second")
    sync()
    for u in users:
        auth.create_user(u)
    add_artifact(app, "test-puzzle", "fig", {"mean_cos": 0.5})
    add_artifact(app, "second", "fig", {"mean_cos": 0.2})


def test_ranked_by_points_then_earliest(app, client, auth, puzzles_dir, sync):
    _setup(app, auth, puzzles_dir, sync)
    t0 = utcnow()
    with freeze_time(t0) as clock:
        _submit(client, auth, "ben", "0.5")            # 10 points, first
        clock.tick(timedelta(minutes=1))
        _submit(client, auth, "ann", "0.5")            # 10 points, later
        clock.tick(timedelta(minutes=1))
        _submit(client, auth, "cat", "0.6")            # fewer points
    _submit(client, auth, "cat", "0.2", slug="second")
    with after_reveal():
        entries = client.get("/leaderboard.json?puzzle=test-puzzle").get_json()["entries"]
        assert [e["display_name"] for e in entries] == ["Ben", "Ann", "Cat"]
        assert [e["rank"] for e in entries] == [1, 2, 3]
        assert entries[0]["points"] == 10 and entries[2]["points"] < 10
        # per-puzzle scope: only the second puzzle's points
        second = client.get("/leaderboard.json?puzzle=second").get_json()["entries"]
        assert [e["display_name"] for e in second] == ["Cat"]
        season = client.get("/leaderboard.json").get_json()["entries"]
        assert season[0]["display_name"] == "Cat" and season[0]["points"] > 10


def test_tie_break_ignores_attempts_that_do_not_raise_the_total(app, client, auth, puzzles_dir, sync):
    """ann and ben reach 10 points, ann first; ann then tries another question and gets 0,
    and retakes nothing that raises her total: she stays ahead (the time her total reached
    its value did not move)."""
    write_puzzle(puzzles_dir, figures="", questions=(
        question_toml("a", "A?", kind="numeric", mode="challenge", grader="abs_tol",
                      grader_params={"tolerance": 0.01}, truth=1.0)
        + question_toml("b", "B?", kind="numeric", mode="challenge", grader="abs_tol",
                        grader_params={"tolerance": 0.01}, truth=2.0)))
    sync()
    for u in ("ann", "ben"):
        auth.create_user(u)
    t0 = utcnow()
    with freeze_time(t0) as clock:
        auth.login("ann")
        assert client.post("/puzzles/test-puzzle/questions/a",
                           data={"csrf_token": csrf_token(client), "value": "1"}).status_code == 303
        auth.logout()
        clock.tick(timedelta(minutes=1))
        auth.login("ben")
        client.post("/puzzles/test-puzzle/questions/a", data={"csrf_token": csrf_token(client), "value": "1"})
        auth.logout()
        clock.tick(timedelta(minutes=1))
        auth.login("ann")  # a wrong answer on b: 0 points, the total does not change
        client.post("/puzzles/test-puzzle/questions/b", data={"csrf_token": csrf_token(client), "value": "5"})
        auth.logout()
        entries = client.get("/leaderboard.json").get_json()["entries"]
    assert [(e["display_name"], e["points"], e["reached_at"][:19]) for e in entries] == [
        ("Ann", 10.0, t0.strftime("%Y-%m-%dT%H:%M:%S")),
        ("Ben", 10.0, (t0 + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S"))]


def test_unpublished_puzzle_leaves_the_boards(app, client, auth, puzzles_dir, sync):
    write_puzzle(puzzles_dir, questions=challenge_mean())
    sync()
    add_artifact(app, "test-puzzle", "fig", {"mean_cos": 0.5})
    auth.create_user("ann")
    _submit(client, auth, "ann", "0.5")
    assert [e["points"] for e in client.get("/leaderboard.json").get_json()["entries"]] == [10.0]
    auth.create_user("mentor1", role="mentor")
    auth.login("mentor1")
    assert client.post("/mentor/puzzles/test-puzzle/unpublish",
                       data={"csrf_token": csrf_token(client)}).status_code == 303
    assert client.get("/leaderboard.json").get_json()["entries"] == []
    client.post("/mentor/puzzles/test-puzzle/publish", data={"csrf_token": csrf_token(client), "confirm": "1"})
    assert [e["points"] for e in client.get("/leaderboard.json").get_json()["entries"]] == [10.0]


def test_mentors_are_not_ranked_and_page_shows_rules(app, client, auth, puzzles_dir, sync):
    _setup(app, auth, puzzles_dir, sync, users=("ann",))
    auth.create_user("mentor1", role="mentor")
    _submit(client, auth, "mentor1", "0.5")
    _submit(client, auth, "ann", "0.4")
    with after_reveal():
        page = client.get("/leaderboard").get_data(as_text=True)
    assert "Ann" in page
    assert "Mentor1" not in page
    assert "reached its current value" in page  # the tie rule is written on the page


def test_private_leaderboard_by_admins_and_csv_for_mentors(app, client, auth, puzzles_dir, sync):
    _setup(app, auth, puzzles_dir, sync, users=("ann",))
    _submit(client, auth, "ann", "0.5")
    clock = after_reveal()
    clock.start()
    assert client.get("/leaderboard.csv").status_code == 401
    auth.login("ann")
    assert client.get("/leaderboard.csv").status_code == 403
    assert client.post("/leaderboard/visibility", data={"csrf_token": csrf_token(client), "public": "0"}).status_code == 403
    auth.logout()
    auth.create_user("mentor1", role="mentor")
    auth.login("mentor1")
    csv = client.get("/leaderboard.csv")
    assert csv.status_code == 200 and "ann@example.org" in csv.get_data(as_text=True)
    # The site-wide setting is an admin's.
    assert client.post("/leaderboard/visibility", data={"csrf_token": csrf_token(client), "public": "0"}).status_code == 403
    auth.logout()
    auth.create_user("admin1", role="admin")
    auth.login("admin1")
    r = client.post("/leaderboard/visibility", data={"csrf_token": csrf_token(client), "public": "0"})
    assert r.status_code == 303
    auth.logout()
    assert client.get("/leaderboard").status_code == 401
    assert client.get("/leaderboard.json").status_code == 401
    auth.login("ann")
    assert client.get("/leaderboard.json").status_code == 200
    clock.stop()


def test_cohort_board_is_private_to_members(app, client, auth, puzzles_dir, sync):
    _setup(app, auth, puzzles_dir, sync)
    add_cohort(app, "mats-w27", "MATS W27", ["ann", "ben"], leaderboard_private=True)
    for u, v in (("ann", "0.5"), ("ben", "0.4"), ("cat", "0.5")):
        _submit(client, auth, u, v)
    clock = after_reveal()
    clock.start()
    assert client.get("/leaderboard.json?cohort=mats-w27").status_code == 401
    auth.login("cat")
    assert client.get("/leaderboard.json?cohort=mats-w27").status_code == 403
    auth.logout()
    auth.login("ben")
    names = [e["display_name"] for e in client.get("/leaderboard.json?cohort=mats-w27").get_json()["entries"]]
    clock.stop()
    assert names == ["Ann", "Ben"]


def test_unknown_scope_is_404(client):
    assert client.get("/leaderboard.json?puzzle=nope").status_code == 404
    assert client.get("/leaderboard.json?cohort=nope").status_code == 404


def test_season_totals_stay_equal_to_the_sum_of_scores(app, client, auth, puzzles_dir, sync):
    """UserTotal (read by the season board) is kept in step with Score through grading,
    regrading on a new truth, and pending attempts graded later."""

    write_puzzle(puzzles_dir)
    write_puzzle(puzzles_dir, number=2, slug="second")
    sync()
    for u in ("ann", "ben", "cat"):
        auth.create_user(u)
    add_artifact(app, "test-puzzle", "fig", {"mean_cos": 0.5})
    _submit(client, auth, "ann", "0.5")
    _submit(client, auth, "ben", "0.3")
    _submit(client, auth, "cat", "0.1", slug="second")          # pending: no truth yet
    _submit(client, auth, "ann", "0.25", slug="second")
    add_artifact(app, "second", "fig", {"mean_cos": 0.2})         # the truth arrives
    with after_reveal():
        client.get("/leaderboard.json")                            # scores the reveal
        add_artifact(app, "test-puzzle", "fig", {"mean_cos": 0.35}, revision="r2")  # regrades
        _check_totals(app, client)


def _check_totals(app, client) -> None:
    with app.app_context():
        sums = {uid: (round(pts, 4), n) for uid, pts, n in db.session.execute(
            sa.select(Score.user_id, sa.func.sum(Score.points), sa.func.count()).group_by(Score.user_id))}
        totals = {t.user_id: (t.points, t.answered) for t in db.session.scalars(sa.select(UserTotal))}
    assert totals == sums and len(totals) == 3
    season = {e["display_name"]: e["points"] for e in client.get("/leaderboard.json").get_json()["entries"]}
    per_puzzle: dict[str, float] = {}
    for slug in ("test-puzzle", "second"):
        for e in client.get(f"/leaderboard.json?puzzle={slug}").get_json()["entries"]:
            per_puzzle[e["display_name"]] = round(per_puzzle.get(e["display_name"], 0) + e["points"], 4)
    assert season == per_puzzle
