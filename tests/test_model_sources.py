"""What a puzzle may load, checked when it is saved: hub models from the allow-list, local
folders only inside MODELS_DIR; and what a failed or finished figure discloses to whom."""
from __future__ import annotations

import html
import json
import re

import pytest
import sqlalchemy as sa

from puzzle_platform.extensions import db
from puzzle_platform.models import Artifact, Job, Puzzle, Setting
from puzzle_platform.recipes.sources import ADMIN_ALLOWLIST_SETTING
from tests.helpers import add_artifact, figure_toml, issue_token, mean_question, write_puzzle
from tests.jobs.conftest import figure_puzzle
from tests.test_mentor_authoring import login_as, post, puzzle_form

OUTSIDE = "a local model must be a folder inside the site's models folder (MODELS_DIR)"
NOT_LISTED = "is not on this site's allow-list of hub models"


def save(client, model: str, number: int = 7, slug: str = "web-puzzle"):
    spec = figure_toml(title="Cosines", model=model, weights="raw") + mean_question()
    return post(client, "/mentor/puzzles/new",
                puzzle_form(spec_toml=spec, number=str(number), slug=slug))


def puzzles(app) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(Puzzle))


def refusal(resp) -> str:
    """The form's one-line reason, without the model reference it quotes."""
    text = html.unescape(resp.get_data(as_text=True))
    match = re.search(r'id="form-error">Not saved: (.*?)</div>', text, re.S)
    assert match, text[:2000]
    return match.group(1)


@pytest.fixture
def mentor(auth):
    login_as(auth, "mentor")


@pytest.mark.parametrize("model", ["/etc", "/root", "~", "~root", "../../../etc",
                                   "/work/models/../../etc", "models:../../etc", "./../..",
                                   "/no/such/folder", "models:.", "a/b/../../../../etc"])
def test_form_refuses_local_paths_outside_models_dir_alike(app, client, mentor, model):
    resp = save(client, model)
    assert resp.status_code == 400
    reason = refusal(resp)
    # The same line whatever the path, existing (/etc) or not: it tells nothing of the disk.
    assert reason == f"figure 'fig': model {model!r}: {OUTSIDE}, written models:<folder>"
    assert puzzles(app) == 0


def test_a_path_through_models_dir_that_leaves_it_is_refused(app, client, mentor, models_dir, tmp_path):
    for model in (f"{models_dir}/../../etc", f"{tmp_path}/../../../etc"):
        resp = save(client, model)
        assert resp.status_code == 400 and OUTSIDE in refusal(resp)
    escape = tmp_path / "escape"  # a link inside MODELS_DIR to a folder outside it
    escape.symlink_to("/etc")
    for model in (str(escape), f"models:{escape.relative_to(models_dir)}"):
        resp = save(client, model)
        assert resp.status_code == 400 and OUTSIDE in refusal(resp)
    assert puzzles(app) == 0


def test_form_refuses_a_hub_model_not_on_the_allow_list(app, client, mentor):
    resp = save(client, "bigscience/bloom")
    assert resp.status_code == 400
    assert f"figure 'fig': model 'bigscience/bloom' {NOT_LISTED}" in refusal(resp)
    assert puzzles(app) == 0


def test_allowed_models_are_saved(app, client, mentor, tmp_path, models_dir):
    app.config["MODEL_ALLOWLIST"] = "my-org/from-env, other/x"
    with app.app_context():
        Setting.put(ADMIN_ALLOWLIST_SETTING, ["my-org/from-admin"])
        db.session.commit()
    models = ["gpt2-small",                   # an alias
              "EleutherAI/gpt-neo-125M",      # an official name
              "gpt-neo-small",                # its alias
              "my-org/from-env",              # MODEL_ALLOWLIST
              "my-org/from-admin",            # added by an admin at run time
              "models:tiny",                  # a local folder, relative to MODELS_DIR
              str(tmp_path / "tiny")]         # the same kind, as an absolute path inside it
    for number, model in enumerate(models, start=10):
        resp = save(client, model, number=number, slug=f"p{number}")
        assert resp.status_code == 303, refusal(resp)
    assert puzzles(app) == len(models)


def test_allowlist_only_replaces_the_default(app, client, mentor):
    app.config["MODEL_ALLOWLIST_ONLY"] = "my-org/only"
    assert NOT_LISTED in refusal(save(client, "gpt2-small"))
    assert save(client, "my-org/only").status_code == 303


def test_without_models_dir_no_local_model(app, client, mentor):
    app.config["MODELS_DIR"] = ""
    resp = save(client, "models:tiny")
    assert resp.status_code == 400 and "local models are turned off on this site" in refusal(resp)


def test_sync_refuses_a_disallowed_model_in_one_line(app, runner, puzzles_dir):
    for model in ("/etc", "bigscience/bloom"):
        write_puzzle(puzzles_dir, figures=figure_toml(model=model, weights="raw"))
        result = runner.invoke(args=["puzzles", "sync"])
        assert result.exit_code != 0
        assert result.output.count("\n") == 1 and "Traceback" not in result.output
        assert OUTSIDE in result.output or NOT_LISTED in result.output
        assert "nothing was changed" in result.output
    assert puzzles(app) == 0


def test_duplicate_rechecks_a_model_the_admins_removed(app, client, mentor):
    with app.app_context():
        Setting.put(ADMIN_ALLOWLIST_SETTING, ["my-org/for-now"])
        db.session.commit()
    assert save(client, "my-org/for-now").status_code == 303
    with app.app_context():
        Setting.put(ADMIN_ALLOWLIST_SETTING, [])
        db.session.commit()
    resp = post(client, "/mentor/puzzles/web-puzzle/duplicate", {"number": "8", "slug": "copy"})
    assert resp.status_code == 400 and NOT_LISTED in html.unescape(resp.get_data(as_text=True))
    assert puzzles(app) == 1


def test_retry_stage_quotes_the_error_to_mentors_only(app, client, auth, puzzles_dir, sync):
    write_puzzle(puzzles_dir)
    sync()
    cause = "model 'models:tiny' could not be loaded: SECRET-CAUSE"
    with app.app_context():
        puzzle = db.session.scalar(sa.select(Puzzle))
        db.session.add(Job(kind="figure", params={}, puzzle_id=puzzle.id, figure_key="fig",
                           status="queued", stage=f"retrying in 10 s after: {cause}", error=cause))
        db.session.commit()
    token = issue_token(app, "sam")
    api = client.get("/api/v1/puzzles/test-puzzle", headers={"Authorization": f"Bearer {token}"})
    for body in (client.get("/puzzles/test-puzzle").get_data(as_text=True),
                 client.get("/puzzles/test-puzzle/progress.json").get_data(as_text=True),
                 api.get_data(as_text=True)):
        assert "SECRET-CAUSE" not in body and "queued: waiting for a worker" in body
    login_as(auth, "mentor")
    assert "SECRET-CAUSE" in client.get("/puzzles/test-puzzle/progress.json").get_data(as_text=True)


def test_provenance_names_local_models_without_server_paths(app, client, runner, puzzles_dir,
                                                            tiny_model_dirs, sync, models_dir):
    figure_puzzle(puzzles_dir, tiny_model_dirs)  # figures name the tiny models by absolute path
    sync()
    result = runner.invoke(args=["puzzles", "compute", "embeddings", "--inline"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        provenances = db.session.scalars(sa.select(Artifact.provenance)).all()
        stored = json.dumps([[a.provenance, a.figure, a.model]
                             for a in db.session.scalars(sa.select(Artifact))])
    rel = tiny_model_dirs["gpt_neo"].relative_to(models_dir).as_posix()
    neo = next(p for p in provenances if p["model"].endswith("gpt_neo"))
    assert neo["model"] == neo["resolved_model"] == f"models:{rel}"
    assert re.fullmatch(r"sha256:[0-9a-f]{12}", neo["revision"])
    token = issue_token(app, "sam")
    page = client.get("/puzzles/embeddings").get_data(as_text=True)
    api = client.get("/api/v1/puzzles/embeddings", headers={"Authorization": f"Bearer {token}"})
    assert f"models:{rel}" in page and neo["revision"][:10] in page
    for text in (stored, page, api.get_data(as_text=True)):
        assert str(models_dir) not in text and "/tmp" not in text


def test_old_artifacts_absolute_paths_are_not_shown(app, client, puzzles_dir, sync):
    write_puzzle(puzzles_dir)
    sync()
    add_artifact(app, "test-puzzle", "fig", {"mean_cos": 0.5})
    path = "/srv/secret-place/models/tiny"
    with app.app_context():  # as the worker wrote them before: the absolute path everywhere
        art = db.session.scalar(sa.select(Artifact))
        art.provenance = {"model": path, "resolved_model": path, "revision": "sha256:0123456789ab",
                          "weights": "raw", "caption": f"{path} · W_E · raw weights"}
        art.figure = {"data": [], "layout": {"title": {"text": f"Cosines: {path}"}}}
        db.session.commit()
    token = issue_token(app, "sam")
    page = client.get("/puzzles/test-puzzle").get_data(as_text=True)
    api = client.get("/api/v1/puzzles/test-puzzle", headers={"Authorization": f"Bearer {token}"})
    for text in (page, api.get_data(as_text=True)):
        assert "secret-place" not in text and "models:tiny" in text
    assert api.get_json()["figures"][0]["provenance"]["caption"] == "models:tiny · W_E · raw weights"
