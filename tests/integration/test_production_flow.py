"""The production shape end to end: PostgreSQL made by the migrations, a real worker process
on a Redis broker computing ground truth on a tiny model, and forecasts scored at the reveal."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from puzzle_platform.extensions import db
from puzzle_platform.models import Artifact, Submission
from tests.helpers import add_artifact, after_reveal, csrf_token, write_puzzle
from tests.integration.conftest import jobs
from tests.jobs.conftest import figure_puzzle

pytestmark = pytest.mark.services


def _answer(client, slug: str, key: str, **fields):
    data = {"csrf_token": csrf_token(client, f"/puzzles/{slug}"), **fields}
    return client.post(f"/puzzles/{slug}/questions/{key}", data=data)


def test_database_is_postgresql_in_its_own_schema(app):
    with app.app_context():
        assert db.engine.dialect.name == "postgresql"
        schema = db.session.scalar(sa.text("SELECT current_schema()"))
        tables = set(sa.inspect(db.engine).get_table_names(schema=schema))
    assert schema.startswith("t_") and {"users", "puzzles", "submissions", "jobs", "alembic_version"} <= tables


def test_scholar_flow_register_pending_graded_leaderboard(app, client, auth, puzzles_dir, sync):
    write_puzzle(puzzles_dir)
    sync()
    assert auth.register("ada", display_name="Ada L.").status_code == 302

    r = _answer(client, "test-puzzle", "mean", value="0.9", lower="0.8", upper="0.95")
    assert r.status_code == 303
    assert "scored at the reveal" in client.get("/puzzles/test-puzzle").get_data(as_text=True)
    assert client.get("/leaderboard.json").get_json()["entries"] == []
    # bad input on PostgreSQL: a clear 400, logged as rejected, nothing counted
    bad = _answer(client, "test-puzzle", "mean", value="NaN")
    assert bad.status_code == 400 and "finite number" in bad.get_data(as_text=True)

    _, version, changed = add_artifact(app, "test-puzzle", "fig", {"mean_cos": 0.92})
    assert (version, changed) == (1, 0)  # a forecast: nothing is graded before the reveal
    page = client.get("/puzzles/test-puzzle").get_data(as_text=True)
    assert "covers the truth" not in page and "0.92" not in page
    with after_reveal():
        board = client.get("/leaderboard.json").get_json()
    with app.app_context():
        subs = db.session.scalars(sa.select(Submission).order_by(Submission.id)).all()
        assert [s.status for s in subs] == ["graded", "rejected"]
        assert subs[0].attempt_no == 1 and 0 < subs[0].points <= 10
    assert [(e["rank"], e["display_name"]) for e in board["entries"]] == [(1, "Ada L.")]
    assert board["entries"][0]["points"] == pytest.approx(subs[0].points)


def test_worker_process_on_redis_computes_figure_then_the_reveal_scores_it(
        app, client, auth, runner, puzzles_dir, sync, tiny_model_dirs, broker_url, workers):
    figure_puzzle(puzzles_dir, tiny_model_dirs)
    sync()
    auth.register("sam", display_name="Sam")
    assert _answer(client, "embeddings", "gpt2_mean", value="0.0", lower="-0.2", upper="0.2").status_code == 303
    with app.app_context():
        assert db.session.scalar(sa.select(Submission.status)) == "pending"

    workers.start(broker_url)
    app.config["CELERY_BROKER_URL"] = broker_url  # the CLI below publishes to the same Redis
    result = runner.invoke(args=["puzzles", "compute", "embeddings", "--wait", "--timeout", "150"])
    assert result.exit_code == 0, result.output + workers.logs()

    rows = jobs(app)
    assert [j.status for j in rows] == ["succeeded", "succeeded"], [j.error for j in rows]
    assert all(j.attempts == 1 and j.progress == 100 for j in rows)
    progress = client.get("/puzzles/embeddings/progress.json").get_json()
    assert all(f["ready"] for f in progress["figures"])
    with after_reveal():  # the forecast is scored against the computed truth at the reveal
        assert [e["display_name"] for e in client.get("/leaderboard.json").get_json()["entries"]] == ["Sam"]
    with app.app_context():
        arts = {a.figure_key: a for a in db.session.scalars(sa.select(Artifact))}
        assert set(arts) == {"gpt_neo", "gpt2"}
        sub = db.session.scalar(sa.select(Submission))
        assert sub.status == "graded" and sub.artifact_id == arts["gpt2"].id
