"""The submit path's cost in round trips: a graded API submission is at most 10 SQL
statements and one commit, counted with SQLAlchemy's engine events (on SQLite here, and on
PostgreSQL where the services run). Timings live in bench/submit.py, not here."""
from __future__ import annotations

from contextlib import contextmanager

import pytest
from sqlalchemy import event

from puzzle_platform.extensions import db
from tests.services import pg_url  # noqa: F401  (fixture)
from tests.helpers import TWO_FIGURES, add_artifact, challenge_mean, issue_token, mean_question, question_toml, write_puzzle

MAX_STATEMENTS = 10


@contextmanager
def counted(app):
    """Statements and commits on the app's engine while the block runs."""
    seen = {"statements": [], "commits": 0}

    def on_execute(conn, cursor, statement, *args):
        seen["statements"].append(" ".join(statement.split())[:80])

    def on_commit(conn):
        seen["commits"] += 1

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", on_execute)
    event.listen(engine, "commit", on_commit)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", on_execute)
        event.remove(engine, "commit", on_commit)


def _setup(app, puzzles_dir, sync):
    app.config["WRONG_ANSWER_WAITS"] = (0,)
    write_puzzle(puzzles_dir, figures=TWO_FIGURES, questions=challenge_mean(max_attempts=50) + mean_question(
        "guess", statistic="fig2.mean_cos") + question_toml(
        "lit", "?", kind="numeric", mode="challenge", grader="abs_tol", grader_params={"tolerance": 0.01},
        truth=0.25, max_attempts=50))
    sync()
    add_artifact(app, "test-puzzle", "fig", {"mean_cos": 0.5})
    token = issue_token(app, "ann")
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/me", headers=headers).status_code == 200  # the token's "last used"
    return client, headers


@pytest.mark.parametrize("key, value, status", [
    ("mean", 0.9, 201),    # a challenge on a figure's statistic, wrong: the scholar enters the board
    ("mean", 0.5, 201),    # right: the score, the total and the scoreboard generation change
    ("lit", 0.25, 201),    # a literal truth: no artifact to read
    ("guess", 0.5, 202),   # a forecast: recorded only
])
def test_a_submission_is_at_most_ten_statements_and_one_commit(app, puzzles_dir, sync, key, value, status):
    client, headers = _setup(app, puzzles_dir, sync)
    with counted(app) as seen:
        resp = client.post(f"/api/v1/puzzles/test-puzzle/questions/{key}/submissions", json={"value": value},
                           headers=headers)
    assert resp.status_code == status, resp.get_json()
    assert len(seen["statements"]) <= MAX_STATEMENTS, "\n".join(seen["statements"])
    assert seen["commits"] == 1


def test_a_wrong_answer_that_changes_no_score_does_not_bump_the_scoreboard(app, puzzles_dir, sync):
    client, headers = _setup(app, puzzles_dir, sync)
    url = "/api/v1/puzzles/test-puzzle/questions/mean/submissions"
    assert client.post(url, json={"value": 0.9}, headers=headers).status_code == 201
    with counted(app) as seen:
        assert client.post(url, json={"value": 0.8}, headers=headers).status_code == 201
    assert not [s for s in seen["statements"] if s.startswith("UPDATE counters")], seen["statements"]
    assert not [s for s in seen["statements"] if s.startswith(("INSERT INTO scores", "UPDATE scores"))]


@pytest.mark.services
def test_the_same_count_on_postgres(pg_url, tmp_path, puzzles_dir):  # noqa: F811
    """On PostgreSQL the locks are real statements' clauses, not extra statements."""
    from flask_migrate import upgrade

    from puzzle_platform import create_app

    app = create_app({"TESTING": True, "SECRET_KEY": "t", "INSTANCE_PATH": str(tmp_path / "instance"),
                      "SQLALCHEMY_DATABASE_URI": pg_url, "PUZZLES_DIR": str(puzzles_dir)})
    with app.app_context():
        upgrade()
    def sync() -> None:
        result = app.test_cli_runner().invoke(args=["puzzles", "sync"])
        assert result.exit_code == 0, result.output

    client, headers = _setup(app, puzzles_dir, sync)
    with counted(app) as seen:
        resp = client.post("/api/v1/puzzles/test-puzzle/questions/mean/submissions", json={"value": 0.5},
                           headers=headers)
    assert resp.status_code == 201
    assert len(seen["statements"]) <= MAX_STATEMENTS, "\n".join(seen["statements"])
    assert seen["commits"] == 1
    with app.app_context():
        db.engine.dispose()
