"""The whole scholar path through the public surface: register -> open -> submit -> pending
-> ground truth arrives -> graded -> on the leaderboard."""
import sqlalchemy as sa

from puzzle_platform.extensions import db
from puzzle_platform.models import Submission
from tests.helpers import add_artifact, csrf_token, write_puzzle


def _answer(client, slug, key, **fields):
    data = {"csrf_token": csrf_token(client, f"/puzzles/{slug}"), **fields}
    return client.post(f"/puzzles/{slug}/questions/{key}", data=data)


def test_register_submit_pending_graded_leaderboard(app, client, auth, puzzles_dir, sync):
    write_puzzle(puzzles_dir)
    sync()
    assert auth.register("ada", display_name="Ada L.").status_code == 302

    page = client.get("/puzzles/test-puzzle").get_data(as_text=True)
    assert "Predict the mean cosine." in page
    assert "has not been computed yet" in page

    r = _answer(client, "test-puzzle", "mean", value="0.9", lower="0.8", upper="0.95")
    assert r.status_code == 303
    page = client.get("/puzzles/test-puzzle").get_data(as_text=True)
    assert "pending" in page and "still being computed" in page
    with app.app_context():
        sub = db.session.scalar(sa.select(Submission))
        assert sub.status == "pending" and sub.points is None

    # Nobody is ranked before grading.
    assert client.get("/leaderboard.json").get_json()["entries"] == []

    _, version, changed = add_artifact(app, "test-puzzle", "fig", {"mean_cos": 0.92})
    assert (version, changed) == (1, 1)

    with app.app_context():
        sub = db.session.scalar(sa.select(Submission))
        assert sub.status == "graded" and sub.artifact_id is not None
        assert 0 < sub.points <= 10
    page = client.get("/puzzles/test-puzzle").get_data(as_text=True)
    assert "graded" in page and "covers the truth" in page
    assert "0.92" not in page  # the truth stays hidden before the reveal

    board = client.get("/leaderboard.json").get_json()
    assert [e["display_name"] for e in board["entries"]] == ["Ada L."]
    assert board["entries"][0]["rank"] == 1
    assert "ada@example.org" not in client.get("/leaderboard").get_data(as_text=True)


def test_graded_at_once_when_truth_exists(app, client, auth, puzzles_dir, sync):
    write_puzzle(puzzles_dir)
    sync()
    add_artifact(app, "test-puzzle", "fig", {"mean_cos": 0.5})
    auth.register("bob")
    r = _answer(client, "test-puzzle", "mean", value="0.5")
    assert r.status_code == 303
    with app.app_context():
        sub = db.session.scalar(sa.select(Submission))
        assert sub.status == "graded" and sub.correct and sub.points == 10
