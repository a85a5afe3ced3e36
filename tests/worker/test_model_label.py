"""`label`: every recipe's optional display name of the model, on figures and captions."""
from __future__ import annotations

import html
import json

import pytest
import sqlalchemy as sa

from puzzle_platform.extensions import db
from puzzle_platform.jobs.worker_models import REPORTER_ENV, reported_models
from puzzle_platform.models import Artifact, Figure
from puzzle_platform.recipes import RECIPES, RecipeError, get_recipe
from puzzle_platform.worker.run_recipe import run_recipe
from tests.helpers import figure_toml, mean_question, write_puzzle

PROMPTS = ["the cat sat on the mat", "a dog", "paris is the capital of france"]


def test_every_recipe_takes_a_label_left_out_when_unset():
    assert all("label" in spec.param_doc for spec in RECIPES.values())
    spec = get_recipe("embedding_cosine")
    assert "label" not in spec.validate_params({"model": "gpt2"})  # old params keys still match
    assert spec.validate_params({"model": "gpt2", "label": " GPT-2 small "})["label"] == "GPT-2 small"


@pytest.mark.parametrize("value, reason", [
    ("x" * 81, "at most 80 characters, got 81"),
    ("Tiny\tNeo", "holds a control character"),
    ("Tiny\nNeo", "holds a control character"),
    ('<a href="https://x.test">GPT</a>', "must not contain < or >"),
    ("   ", "must be a non-empty string"),
    (3, "must be a non-empty string"),
])
def test_label_validation_errors_are_one_line(value, reason):
    with pytest.raises(RecipeError) as err:
        get_recipe("embedding_cosine").validate_params({"model": "gpt2", "label": value})
    assert f"embedding_cosine: parameter 'label': {reason}" in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("recipe, extra", [
    ("embedding_cosine", {"bins": 20}),
    ("activation_stats", {"prompts": PROMPTS, "hook": "blocks.0.hook_resid_post", "bins": 20}),
    ("weight_spectrum", {"matrix": "W_E"}),
])
def test_the_label_names_the_model_on_the_figure(tiny_text_model_dirs, models_dir, recipe, extra):
    folder = tiny_text_model_dirs["text_gpt2"]
    ref = "models:" + folder.relative_to(models_dir).as_posix()
    base = {"model": ref, "weights": "raw", "device": "cpu", **extra}
    plain = run_recipe(recipe, base)
    labelled = run_recipe(recipe, {**base, "label": "Tiny GPT"})
    assert labelled["statistics"] == plain["statistics"]  # a label changes only what is shown
    assert ref in json.dumps(plain["figure"])
    shown = json.dumps(labelled["figure"], ensure_ascii=False)
    assert "Tiny GPT" in shown and ref not in shown and folder.name not in shown
    # mentors' provenance keeps the real reference and revision
    assert labelled["provenance"]["model"] == ref and labelled["provenance"]["label"] == "Tiny GPT"
    assert labelled["provenance"]["revision"] == plain["provenance"]["revision"]


def test_labelled_figure_on_the_scholar_and_mentor_pages(app, client, auth, runner, puzzles_dir, sync,
                                                         tiny_model_dirs, models_dir, monkeypatch):
    ref = "models:" + tiny_model_dirs["gpt_neo"].relative_to(models_dir).as_posix()
    figures = figure_toml("neo", "Embedding cosines", model=ref, weights="raw", device="cpu", bins=20,
                          label="Tiny Neo")
    write_puzzle(puzzles_dir, figures=figures, questions=mean_question(statistic="neo.mean_cos"))
    sync()
    monkeypatch.setenv(REPORTER_ENV, "host:7")  # as in a pool child of `manage.py worker`
    result = runner.invoke(args=["puzzles", "compute", "test-puzzle", "--inline"])
    assert result.exit_code == 0 and "succeeded" in result.output, result.output
    with app.app_context():
        art = db.session.scalar(sa.select(Artifact))
        assert "Tiny Neo" in json.dumps(art.figure) and ref not in json.dumps(art.figure)
        assert db.session.scalar(sa.select(Figure.params))["label"] == "Tiny Neo"
        assert ref in reported_models().names  # the job's worker reported what it holds

    auth.register("sam")
    page = " ".join(html.unescape(client.get("/puzzles/test-puzzle").get_data(as_text=True)).split())
    assert "model Tiny Neo, raw weights" in page and "Tiny Neo" in page.split('id="fig-json-neo"')[1]
    assert ref not in page and tiny_model_dirs["gpt_neo"].parent.name not in page
    auth.logout()

    auth.create_user("mentor1", role="mentor")
    auth.login("mentor1")
    page = " ".join(html.unescape(client.get("/puzzles/test-puzzle").get_data(as_text=True)).split())
    assert f'model {ref} @ sha256:' in page and 'shown to scholars as "Tiny Neo"' in page


def test_a_changed_label_is_a_changed_figure(app, puzzles_dir, sync):
    write_puzzle(puzzles_dir, figures=figure_toml(model="models:tiny", weights="raw"))
    sync()
    with app.app_context():
        before = db.session.scalar(sa.select(Figure.params_key))
        assert "label" not in db.session.scalar(sa.select(Figure.params))  # unlabelled keys unchanged
    write_puzzle(puzzles_dir, figures=figure_toml(model="models:tiny", weights="raw", label="Tiny"))
    sync()
    with app.app_context():
        assert db.session.scalar(sa.select(Figure.params_key)) != before
