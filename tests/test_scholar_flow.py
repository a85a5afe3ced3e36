"""The whole scholar path through the public surface, in both question modes.

Forecast: register -> open -> predict -> revise -> ground truth arrives -> still "scored at
the reveal", not on the board -> the reveal -> scored, on the leaderboard.
Challenge: pending while the truth is computed -> graded right or wrong at once."""
import sqlalchemy as sa

from puzzle_platform.extensions import db
from puzzle_platform.models import Submission
from tests.helpers import add_artifact, after_reveal, challenge_mean, csrf_token, write_puzzle


def _answer(client, slug, key, **fields):
    data = {"csrf_token": csrf_token(client, f"/puzzles/{slug}"), **fields}
    return client.post(f"/puzzles/{slug}/questions/{key}", data=data)


def test_forecast_is_revised_then_scored_at_the_reveal(app, client, auth, puzzles_dir, sync):
    write_puzzle(puzzles_dir)
    sync()
    assert auth.register("ada", display_name="Ada L.").status_code == 302

    page = client.get("/puzzles/test-puzzle").get_data(as_text=True)
    assert "Predict the mean cosine." in page and "has not been computed yet" in page
    assert "A forecast: you can revise your prediction until the deadline" in page

    assert _answer(client, "test-puzzle", "mean", value="0.7", lower="0.6", upper="0.8").status_code == 303
    r = _answer(client, "test-puzzle", "mean", value="0.9", lower="0.8", upper="0.95")
    assert r.status_code == 303
    page = client.get("/puzzles/test-puzzle").get_data(as_text=True)
    assert "Your prediction: <strong>0.9 [0.8, 0.95]</strong>" in page and "Revise prediction" in page
    assert "scored at the reveal" in page

    _, version, changed = add_artifact(app, "test-puzzle", "fig", {"mean_cos": 0.92})
    assert (version, changed) == (1, 0)  # nothing is graded before the reveal
    with app.app_context():
        subs = db.session.scalars(sa.select(Submission).order_by(Submission.id)).all()
        assert [(s.status, s.points, s.score, s.correct) for s in subs] == [("pending", None, None, None)] * 2
    page = client.get("/puzzles/test-puzzle").get_data(as_text=True)
    assert "covers the truth" not in page and "0.92" not in page
    assert client.get("/leaderboard.json").get_json()["entries"] == []  # no rank contribution yet

    with after_reveal():
        board = client.get("/leaderboard.json").get_json()  # the first read scores the reveal
        assert [e["display_name"] for e in board["entries"]] == ["Ada L."]
        with app.app_context():
            first, last = db.session.scalars(sa.select(Submission).order_by(Submission.id)).all()
            assert first.status == last.status == "graded"
            assert board["entries"][0]["points"] == last.points > first.points  # the last one counts
        page = client.get("/puzzles/test-puzzle").get_data(as_text=True)
        assert "covers the truth" in page and "0.92" in page
    assert "ada@example.org" not in client.get("/leaderboard").get_data(as_text=True)


def test_challenge_is_pending_until_the_truth_then_right_or_wrong(app, client, auth, puzzles_dir, sync):
    write_puzzle(puzzles_dir, questions=challenge_mean(max_attempts=3))
    sync()
    auth.register("bob")
    assert "A challenge: you learn at once whether you are right" in client.get("/puzzles/test-puzzle").get_data(as_text=True)
    assert _answer(client, "test-puzzle", "mean", value="0.7").status_code == 303
    with app.app_context():
        assert db.session.scalar(sa.select(Submission.status)) == "pending"
    add_artifact(app, "test-puzzle", "fig", {"mean_cos": 0.5})
    with app.app_context():
        sub = db.session.scalar(sa.select(Submission))
        assert (sub.status, sub.correct, sub.points, sub.feedback) == ("graded", False, 0.0, "Incorrect.")


def test_challenge_graded_at_once_when_truth_exists(app, client, auth, puzzles_dir, sync):
    write_puzzle(puzzles_dir, questions=challenge_mean())
    sync()
    add_artifact(app, "test-puzzle", "fig", {"mean_cos": 0.5})
    auth.register("bob")
    r = _answer(client, "test-puzzle", "mean", value="0.52")
    assert r.status_code == 303
    with app.app_context():
        sub = db.session.scalar(sa.select(Submission))
        assert sub.status == "graded" and sub.correct and sub.points == 10 and sub.feedback == "Correct."
    board = client.get("/leaderboard.json").get_json()  # challenges count before the reveal
    assert [(e["display_name"], e["points"]) for e in board["entries"]] == [("Bob", 10.0)]
