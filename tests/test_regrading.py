"""Versioned ground truth: a recomputation that changes the truth regrades, with a log
(on a challenge question, graded at once)."""
import sqlalchemy as sa

from puzzle_platform.extensions import db
from puzzle_platform.models import Artifact, GradeChange, Submission
from tests.helpers import add_artifact, challenge_mean, csrf_token, write_puzzle


def test_new_truth_version_regrades_and_logs(app, client, auth, puzzles_dir, sync):
    write_puzzle(puzzles_dir, questions=challenge_mean())
    sync()
    first_id, v1, _ = add_artifact(app, "test-puzzle", "fig", {"mean_cos": 0.5}, revision="rev-a")
    auth.register("sam")
    client.post("/puzzles/test-puzzle/questions/mean", data={"csrf_token": csrf_token(client), "value": "0.5"})
    assert client.get("/leaderboard.json").get_json()["entries"][0]["points"] == 10

    # the same computation again: no new version, nothing regraded
    same_id, same_v, changed = add_artifact(app, "test-puzzle", "fig", {"mean_cos": 0.5}, revision="rev-a")
    assert (same_id, same_v, changed) == (first_id, v1, 0)

    # a new model revision moves the truth: version 2, the attempt is regraded and logged
    second_id, v2, changed = add_artifact(app, "test-puzzle", "fig", {"mean_cos": 0.7}, revision="rev-b")
    assert (v1, v2, changed) == (1, 2, 1)
    with app.app_context():
        sub = db.session.scalar(sa.select(Submission))
        change = db.session.scalar(sa.select(GradeChange))
        assert sub.artifact_id == second_id and sub.points < 10
        assert (change.old_points, change.new_points) == (10, sub.points)
        assert (change.old_artifact_id, change.new_artifact_id) == (first_id, second_id)
        assert "fig v2" in change.reason
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Artifact)) == 2
    assert client.get("/leaderboard.json").get_json()["entries"][0]["points"] < 10


def test_unchanged_truth_in_new_version_logs_nothing(app, client, auth, puzzles_dir, sync):
    write_puzzle(puzzles_dir, questions=challenge_mean())
    sync()
    add_artifact(app, "test-puzzle", "fig", {"mean_cos": 0.5}, revision="rev-a")
    auth.register("sam")
    client.post("/puzzles/test-puzzle/questions/mean", data={"csrf_token": csrf_token(client), "value": "0.4"})
    _, version, changed = add_artifact(app, "test-puzzle", "fig", {"mean_cos": 0.5, "n": 3}, revision="rev-b")
    assert (version, changed) == (2, 0)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(GradeChange)) == 0
