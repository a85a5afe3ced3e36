"""Puzzle-local recipes: a folder's recipe.py declared by [[recipes]], validated without being
imported, computed by the job path, versioned by its hash, refused by the web form."""
from __future__ import annotations

import hashlib
import sys

import pytest
import sqlalchemy as sa

from puzzle_platform.extensions import db
from puzzle_platform.models import Artifact, Figure, Job, Submission
from puzzle_platform.worker.run_recipe import run_recipe
from tests.helpers import csrf_token, figure_toml, question_toml, write_puzzle
from tests.test_mentor_authoring import post, puzzle_form

SLUG = "local-sum"
RECIPE_PY = '''"""sum of scale * i for i < n"""


def run(params, progress):
    progress(10, "counting")
    xs = [params["scale"] * i for i in range(params["n"])]
    return {"statistics": {"total": FACTOR * sum(xs), "count": len(xs)},
            "figure": {"data": [{"type": "bar", "x": list(range(len(xs))), "y": xs}], "layout": {}},
            "provenance": {"note": "sum of scale * i"}}


FACTOR = 1
'''
DECLARATION = '''
[[recipes]]
name = "local.arith"
description = "Sum of scale * i for i < n."
statistics = ["total", { name = "count", doc = "terms summed" }]
params = { n = { default = 4, doc = "terms" }, scale = { type = "float", doc = "factor" } }
'''
FIGURE = figure_toml("fig", "Arithmetic", recipe="local.arith", scale=2.5)
QUESTION = question_toml("total", "Predict the total.", mode="challenge", grader="abs_tol",
                         grader_params={"tolerance": 0.01}, statistic="fig.total", max_attempts=2)


def local_puzzle(puzzles_dir, recipe_py: str | None = RECIPE_PY, declaration: str = DECLARATION,
                 figures: str = FIGURE, questions: str = QUESTION):
    folder = write_puzzle(puzzles_dir, slug=SLUG, figures=declaration + figures, questions=questions)
    if recipe_py is not None:
        (folder / "recipe.py").write_text(recipe_py)
    return folder


def _compute(runner):
    return runner.invoke(args=["puzzles", "compute", SLUG, "--inline"])


def test_synced_computed_versioned_by_hash_and_regraded(app, client, auth, runner, puzzles_dir, sync):
    folder = local_puzzle(puzzles_dir)
    sync()
    assert "unchanged" in sync()  # hashing recipe.py is stable
    auth.register("sam")
    resp = client.post(f"/puzzles/{SLUG}/questions/total", data={"csrf_token": csrf_token(client), "value": "15"})
    assert resp.status_code == 303

    result = _compute(runner)
    assert result.exit_code == 0, result.output
    digest = hashlib.sha256((folder / "recipe.py").read_bytes()).hexdigest()
    with app.app_context():
        art = db.session.scalar(sa.select(Artifact))
        assert art.statistics == {"total": 2.5 * (0 + 1 + 2 + 3), "count": 4}
        assert art.provenance["recipe_sha256"] == digest and art.provenance["note"] == "sum of scale * i"
        assert art.figure["data"][0]["y"] == [0.0, 2.5, 5.0, 7.5]
        old_key = db.session.scalar(sa.select(Figure.params_key))
        sub = db.session.scalar(sa.select(Submission))
        assert sub.status == "graded" and sub.correct is True

    # Edited after the sync: the job fails with the reason, nothing changes.
    (folder / "recipe.py").write_text(RECIPE_PY.replace("FACTOR = 1", "FACTOR = 2"))
    failed = _compute(runner)
    assert failed.exit_code != 0 and "recipe.py changed since sync: run puzzles sync" in failed.output
    with app.app_context():
        job = db.session.scalars(sa.select(Job).order_by(Job.id.desc())).first()
        assert job.status == "failed" and "recipe.py changed since sync" in job.error
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Artifact)) == 1
    auth.logout()
    auth.create_user("mentor1", role="mentor")
    auth.login("mentor1")
    page = client.get(f"/mentor/puzzles/{SLUG}").get_data(as_text=True)  # mentors see the reason
    assert "recipe.py changed since sync: run puzzles sync" in page

    # A re-sync records the new hash: a new params key, a new truth, the answer regraded.
    out = sync()
    assert "~ figure fig: params" in out
    assert _compute(runner).exit_code == 0
    with app.app_context():
        assert db.session.scalar(sa.select(Figure.params_key)) != old_key
        arts = db.session.scalars(sa.select(Artifact).order_by(Artifact.version)).all()
        assert [a.statistics["total"] for a in arts] == [15.0, 30.0]
        assert arts[1].provenance["recipe_sha256"] != digest
        sub = db.session.scalar(sa.select(Submission))
        assert sub.correct is False and sub.artifact_id == arts[1].id


def test_web_process_never_imports_recipe_py(app, runner, puzzles_dir, sync):
    local_puzzle(puzzles_dir, recipe_py='raise RuntimeError("recipe.py was imported")\n')
    before = set(sys.modules)
    sync()  # validated from the declaration alone
    assert not [m for m in set(sys.modules) - before if "recipe" in m]
    result = _compute(runner)  # the worker imports it, and reports its failure in one line
    assert result.exit_code != 0
    assert "importing recipe.py raised RuntimeError: recipe.py was imported" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("body, reason", [
    ("def run(params, progress):\n    return {'statistics': {'total': 1.0}, 'figure': {}}\n",
     "statistics differ from the declared ones; missing count"),
    ("def run(params, progress):\n    return {'statistics': {'total': 1.0, 'count': 1, 'x': 2}, 'figure': {}}\n",
     "undeclared x"),
    ("def run(params, progress):\n    return {'statistics': {'total': float('nan'), 'count': 1}, 'figure': {}}\n",
     "statistic 'total' must be a finite number"),
    ("def run(params, progress):\n    return {'statistics': {'total': 1.0, 'count': 1}, 'figure': [1]}\n",
     "the figure must be a dict"),
    ("def run(params, progress):\n    raise ZeroDivisionError('oops')\n",
     "recipe.py raised ZeroDivisionError: oops"),
    ("def compute(params, progress):\n    pass\n", "recipe.py defines no function 'run'"),
])
def test_artifact_contract_failures_fail_the_job_with_the_reason(app, runner, puzzles_dir, sync, body, reason):
    local_puzzle(puzzles_dir, recipe_py=body)
    sync()
    result = _compute(runner)
    assert result.exit_code != 0 and reason in result.output, result.output
    with app.app_context():
        job = db.session.scalar(sa.select(Job))
        assert job.status == "failed" and job.attempts == 1 and reason in job.error


def test_a_cancelled_progress_is_not_reported_as_the_recipes_error(app, puzzles_dir, sync):
    local_puzzle(puzzles_dir)
    sync()

    class Cancel(Exception):
        pass

    def progress(pct, stage):
        raise Cancel(stage)

    with app.app_context():
        params = db.session.scalar(sa.select(Figure.params))
        with pytest.raises(Cancel):
            run_recipe("local.arith", params, progress, puzzles_dir=puzzles_dir)
        out = run_recipe("local.arith", params, puzzles_dir=puzzles_dir)
    assert out["statistics"] == {"total": 15.0, "count": 4}


@pytest.mark.parametrize("declaration, figures, questions, recipe_py, reason", [
    (DECLARATION, FIGURE, question_toml("q", "?", mode="challenge", grader="abs_tol",
                                        grader_params={"tolerance": 1}, statistic="fig.mean"),
     RECIPE_PY, "figure 'fig' does not produce 'mean'; it produces count, total"),
    (DECLARATION.replace('"local.arith"', '"arith"'), FIGURE, QUESTION, RECIPE_PY,
     "name 'arith' must be local.<name>"),
    (DECLARATION.replace('"local.arith"', '"embedding_cosine"'), FIGURE, QUESTION, RECIPE_PY,
     "name 'embedding_cosine' must be local.<name>"),
    (DECLARATION, figure_toml("fig", "A", recipe="local.arith", scale=1.0, colour=1), QUESTION,
     RECIPE_PY, "unknown parameter(s) 'colour'"),
    (DECLARATION, figure_toml("fig", "A", recipe="local.arith", scale="big"), QUESTION, RECIPE_PY,
     "parameter 'scale': must be a finite number"),
    (DECLARATION, figure_toml("fig", "A", recipe="local.arith", n=3), QUESTION, RECIPE_PY,
     "parameter 'scale' is required"),
    (DECLARATION, figure_toml("fig", "A", recipe="local.other", scale=1.0), QUESTION, RECIPE_PY,
     "recipe 'local.other' is not declared in this puzzle's [[recipes]]"),
    (DECLARATION, figure_toml("fig", "A", recipe="local.arith", scale=1.0, _local={"sha256": "x"}),
     QUESTION, RECIPE_PY, "unknown parameter(s) '_local'"),
    (DECLARATION, FIGURE, QUESTION, None, "needs the file recipe.py in the puzzle folder"),
    (DECLARATION + DECLARATION, FIGURE, QUESTION, RECIPE_PY, "recipe 'local.arith' is declared twice"),
    (DECLARATION.replace('type = "float"', 'type = "complex"'), FIGURE, QUESTION, RECIPE_PY,
     "parameter 'scale': give a default or a type"),
])
def test_declaration_problems_are_refused_at_sync(runner, puzzles_dir, declaration, figures, questions,
                                                  recipe_py, reason):
    local_puzzle(puzzles_dir, recipe_py=recipe_py, declaration=declaration, figures=figures, questions=questions)
    result = runner.invoke(args=["puzzles", "sync"])
    assert result.exit_code != 0 and reason in result.output, result.output
    assert "nothing was changed" in result.output


def test_web_form_refuses_local_recipes(app, client, auth):
    auth.create_user("mentor1", role="mentor")
    auth.login("mentor1")
    for spec, reason in ((FIGURE + QUESTION, "recipe 'local.arith' is a puzzle-local recipe"),
                         (DECLARATION + FIGURE + QUESTION, "[[recipes]] (puzzle-local recipes) are read only")):
        resp = post(client, "/mentor/puzzles/new", puzzle_form(spec_toml=spec))
        assert resp.status_code == 400
        assert reason in resp.get_data(as_text=True).replace("&#39;", "'")


def test_file_puzzle_with_local_recipes_is_not_exported_or_edited_on_the_web(app, client, auth, runner,
                                                                             puzzles_dir, sync, tmp_path):
    local_puzzle(puzzles_dir)
    sync()
    result = runner.invoke(args=["puzzles", "export", SLUG, "--dir", str(tmp_path / "out")])
    assert result.exit_code != 0 and "puzzle-local recipes (local.arith)" in result.output
    assert not (tmp_path / "out").exists()
    auth.create_user("mentor1", role="mentor")
    auth.login("mentor1")
    page = client.get(f"/mentor/puzzles/{SLUG}/edit")
    assert page.status_code == 200 and "local.arith" in page.get_data(as_text=True)
    assert "_local" not in page.get_data(as_text=True)  # the worker's entry stays internal
