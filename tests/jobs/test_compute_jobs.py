"""Figures computed by real jobs on tiny models; pending attempts graded by the results."""
from __future__ import annotations

import numpy as np
import pytest
import sqlalchemy as sa
from safetensors.numpy import load_file

from puzzle_platform.extensions import db
from puzzle_platform.models import Artifact, Job, Submission
from tests.helpers import csrf_token
from tests.jobs.conftest import figure_puzzle


def _reference(model_dir) -> dict:
    """float64 brute force over the full (tiny) vocabulary, straight from the saved weights."""
    weights = load_file(str(model_dir / "model.safetensors"))
    W = next(v for k, v in weights.items() if k.endswith(("wte.weight", "embed_tokens.weight"))).astype(np.float64)

    def mean_offdiag(X):
        U = X / np.linalg.norm(X, axis=1, keepdims=True)
        C = U @ U.T
        n = len(C)
        return (C.sum() - np.trace(C)) / (n * (n - 1))

    mean = W.mean(0)
    to_mean = (W @ mean) / (np.linalg.norm(W, axis=1) * np.linalg.norm(mean))
    return {"mean_cos": mean_offdiag(W), "centered_mean_cos": mean_offdiag(W - mean),
            "mean_cos_to_mean": to_mean.mean()}


def _submit(client, key, value):
    return client.post(f"/puzzles/embeddings/questions/{key}",
                       data={"csrf_token": csrf_token(client), "value": value})


def test_compute_inline_grades_pending_and_matches_brute_force(app, client, auth, runner, embeddings_puzzle,
                                                               tiny_model_dirs):
    auth.register("sam")
    assert _submit(client, "neo_mean", "0.0").status_code == 303
    page = client.get("/puzzles/embeddings").get_data(as_text=True)
    assert "has not been computed yet" in page

    result = runner.invoke(args=["puzzles", "compute", "embeddings", "--inline"])
    assert result.exit_code == 0, result.output
    assert "succeeded" in result.output

    with app.app_context():
        arts = {a.figure_key: a for a in db.session.scalars(sa.select(Artifact))}
        assert set(arts) == {"gpt_neo", "gpt2"}
        ref = _reference(tiny_model_dirs["gpt_neo"])
        for key, value in ref.items():
            assert arts["gpt_neo"].statistics[key] == pytest.approx(value, abs=1e-6), key
        assert arts["gpt_neo"].provenance["weights"] == "raw" and arts["gpt_neo"].revision
        counts = arts["gpt_neo"].figure  # a plotly figure built from bins, small
        assert counts and len(str(counts)) < 50_000
        sub = db.session.scalar(sa.select(Submission))
        assert sub.status == "graded" and sub.artifact_id == arts["gpt_neo"].id
        jobs = db.session.scalars(sa.select(Job)).all()
        assert {j.status for j in jobs} == {"succeeded"} and all(j.progress == 100 for j in jobs)

    page = client.get("/puzzles/embeddings").get_data(as_text=True)
    assert 'id="fig-json-gpt_neo"' in page and "graded" in page

    # Running the same computation again adds no version and changes no grade.
    again = runner.invoke(args=["puzzles", "compute", "embeddings", "--inline"])
    assert again.exit_code == 0, again.output
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Artifact)) == 2


def test_failed_job_shows_reason_to_mentors_only(app, client, auth, runner, puzzles_dir,
                                                 tiny_model_dirs, sync, tmp_path):
    figure_puzzle(puzzles_dir, tiny_model_dirs, neo_model=str(tmp_path / "no-such-model"))
    sync()
    result = runner.invoke(args=["puzzles", "compute", "embeddings", "--inline"])
    assert result.exit_code != 0
    assert "failed" in result.output and "no-such-model" in result.output
    assert "Traceback" not in result.output
    for who in (None, "scholar"):  # anonymous, then a scholar: the generic line only
        if who:
            auth.create_user(who)
            auth.login(who)
        page = client.get("/puzzles/embeddings").get_data(as_text=True)
        assert "Figure not available yet." in page
        assert "no-such-model" not in page and "The computation failed" not in page
        progress = client.get("/puzzles/embeddings/progress.json").get_json()
        neo = next(f for f in progress["figures"] if f["figure"] == "gpt_neo")
        assert neo["job"]["status"] == "failed" and neo["job"]["error"] == "Figure not available yet."
        assert "no-such-model" not in str(progress) and "statistics" not in str(progress)
    auth.logout()
    auth.create_user("mentor1", role="mentor")
    auth.login("mentor1")
    page = client.get("/puzzles/embeddings").get_data(as_text=True)
    assert "The computation failed" in page and "no-such-model" in page
    progress = client.get("/puzzles/embeddings/progress.json").get_json()
    neo = next(f for f in progress["figures"] if f["figure"] == "gpt_neo")
    assert neo["job"]["status"] == "failed" and "no-such-model" in neo["job"]["error"]


def test_compute_unknown_puzzle_is_one_line(runner):
    result = runner.invoke(args=["puzzles", "compute", "nope"])
    assert result.exit_code != 0 and "no puzzle 'nope'" in result.output


def test_compute_all_queues_every_puzzle_with_figures(app, runner, puzzles_dir, tiny_model_dirs, sync):
    """`puzzles compute --all` (DEPLOY.md, after the first sync): one queued job per figure of
    every puzzle."""
    figure_puzzle(puzzles_dir, tiny_model_dirs)
    from tests.helpers import write_puzzle
    write_puzzle(puzzles_dir, number=2, slug="second")
    sync()
    app.config["CELERY_BROKER_URL"] = "memory://"
    result = runner.invoke(args=["puzzles", "compute", "--all"])
    assert result.exit_code == 0, result.output
    queued = [line for line in result.output.splitlines() if line.startswith("queued ")]
    assert [q.rsplit(" ", 1)[1] for q in queued] == ["embeddings", "second"], result.output
    with app.app_context():
        jobs = db.session.scalars(sa.select(Job)).all()
        assert sorted(j.figure_key for j in jobs) == ["fig", "gpt2", "gpt_neo"]
        assert {j.status for j in jobs} == {"queued"}

    # Run again (e.g. after the next sync): queued and computed figures are left alone.
    from tests.helpers import add_artifact
    add_artifact(app, "second", "fig", {"mean_cos": 0.5})
    with app.app_context():
        db.session.execute(sa.delete(Job).where(Job.figure_key == "fig"))
        db.session.commit()
    again = runner.invoke(args=["puzzles", "compute", "--all"])
    assert again.exit_code == 0, again.output
    assert "second: every figure is computed or queued already" in again.output
    assert "embeddings: every figure is computed or queued already" in again.output
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Job)) == 2

    for args in (["puzzles", "compute"], ["puzzles", "compute", "embeddings", "--all"]):
        refused = runner.invoke(args=args)
        assert refused.exit_code != 0 and "name one puzzle (SLUG) or --all" in refused.output
