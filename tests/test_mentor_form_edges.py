"""Edges of the structured editor a new mentor hits: Enter in the TOML view, a grader changed
without "Update fields", more rows than the form holds, long odd names, the save message."""
from __future__ import annotations

import sqlalchemy as sa

from puzzle_platform.extensions import db
from puzzle_platform.models import Puzzle, Question
from tests.test_mentor_authoring import login_as, page_text, post, puzzle_form
from tests.test_mentor_structured_form import fields_of

BASICS = ("number", "slug", "title", "statement_md", "answer_md", "release_at", "deadline_at",
          "reveal_at", "tz")


def _new_form(client) -> dict[str, str]:
    form = fields_of(client.get("/mentor/puzzles/new"))
    base = puzzle_form()
    form.update({k: base[k] for k in BASICS})
    form["figures-0-param-model"] = "models:tiny"
    return form


def _count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def test_enter_in_the_toml_view_keeps_the_toml_as_typed(app, client, auth):
    """Enter in a text field presses the hidden "refresh": the TOML view stays, comments kept."""
    login_as(auth, "mentor")
    as_toml = fields_of(post(client, "/mentor/puzzles/new", {**_new_form(client), "op": "view-toml"}))
    typed = "# my notes on this puzzle\n" + as_toml["spec_toml"].replace(
        'recipe = "embedding_cosine"', 'recipe = "embedding_cosine"  # the histogram')
    resp = post(client, "/mentor/puzzles/new", {**as_toml, "spec_toml": typed, "op": "refresh"})
    assert resp.status_code == 200 and "Not saved yet" in page_text(resp)
    again = fields_of(resp)
    assert again["view"] == "toml" and again["spec_toml"] == typed
    assert _count(app, Puzzle) == 0


def test_a_grader_changed_without_update_fields_saves_its_own_params(app, client, auth):
    login_as(auth, "mentor")
    form = _new_form(client)
    assert form["questions-0-grader"] == "interval" and form["questions-0-grader-param-scale"]
    form["questions-0-grader"] = "abs_tol"  # the select changed; its fields were not redrawn
    form["questions-0-grader-param-tolerance"] = "0.05"
    form["questions-0-mode"] = "challenge"
    resp = post(client, "/mentor/puzzles/new", {**form, "op": "save"})
    assert resp.status_code == 303, page_text(resp)
    with app.app_context():
        q = db.session.scalar(sa.select(Question))
        assert q.grader == "abs_tol" and dict(q.grader_params)["tolerance"] == 0.05
        assert "scale" not in q.grader_params
    # and the TOML view does not carry the other grader's parameter either
    toml = fields_of(post(client, "/mentor/puzzles/new", {**form, "op": "view-toml"}))["spec_toml"]
    assert "tolerance = 0.05" in toml and "scale" not in toml


def test_more_questions_than_the_form_holds_are_refused_not_cut(app, client, auth):
    login_as(auth, "mentor")
    form = _new_form(client)
    first = {k[len("questions-0-"):]: v for k, v in form.items() if k.startswith("questions-0-")}
    for i in range(1, 60):
        form.update({f"questions-{i}-{name}": value for name, value in first.items()})
        form[f"questions-{i}-key"] = f"q{i}"
    resp = post(client, "/mentor/puzzles/new", {**form, "op": "save"})
    assert resp.status_code == 400 and "60 questions: the form holds at most 50" in page_text(resp)
    assert _count(app, Puzzle) == 0
    # 60 questions as TOML are saved whole, and the editor then opens them as TOML (no cut)
    toml = fields_of(post(client, "/mentor/puzzles/new", {**_new_form(client), "op": "view-toml"}))
    block = toml["spec_toml"][toml["spec_toml"].index("[[questions]]"):]
    many = toml["spec_toml"] + "".join("\n" + block.replace('key = "mean"', f'key = "q{i}"') for i in range(1, 60))
    resp = post(client, "/mentor/puzzles/new", {**toml, "spec_toml": many, "op": "save"})
    assert resp.status_code == 303, page_text(resp)
    assert _count(app, Question) == 60
    edit = fields_of(client.get("/mentor/puzzles/web-puzzle/edit"))
    assert edit["view"] == "toml" and edit["spec_toml"].count("[[questions]]") == 60


def test_a_long_unknown_parameter_name_is_shortened_in_the_reason(app, client, auth):
    login_as(auth, "mentor")
    form = _new_form(client)
    form["questions-0-grader-param-" + "z" * 3000] = "1"
    form["figures-0-param-" + "y" * 3000] = "1"
    toml = fields_of(post(client, "/mentor/puzzles/new", {**form, "op": "view-toml"}))
    odd = toml["spec_toml"].replace('model = "models:tiny"', 'model = "models:tiny", ' + "y" * 3000 + " = 1")
    resp = post(client, "/mentor/puzzles/new", {**toml, "spec_toml": odd, "op": "save"})
    error = page_text(resp).split('id="form-error">', 1)[1].split("</div>", 1)[0]
    assert resp.status_code == 400 and "unknown parameter" in error
    assert "y" * 41 not in error and "y" * 40 + "..." in error


def test_the_save_message_says_what_changed_in_words(app, client, auth):
    login_as(auth, "mentor")
    form = _new_form(client)
    assert post(client, "/mentor/puzzles/new", {**form, "op": "save"}).status_code == 303
    edit = fields_of(client.get("/mentor/puzzles/web-puzzle/edit"))
    edit["title"] = "A better title"
    edit["questions-0-prompt"] = "A better prompt?"
    text = page_text(post(client, "/mentor/puzzles/web-puzzle/edit", {**edit, "op": "save"},
                          follow_redirects=True))
    import html
    flash = html.unescape(text[text.index("Saved:"):].split("<", 1)[0])
    assert flash.startswith("Saved: updated title; changed question mean: prompt_md."), flash
    again = page_text(post(client, "/mentor/puzzles/web-puzzle/edit", {**edit, "op": "save"},
                           follow_redirects=True))
    assert "Saved: nothing changed." in again
