"""The mentor authoring page documents every recipe of the registry beside the form."""
from __future__ import annotations

import html

from puzzle_platform.recipes import RECIPES


def test_new_puzzle_page_documents_every_recipe(client, auth):
    auth.create_user("mentor1", role="mentor")
    auth.login("mentor1")
    resp = client.get("/mentor/puzzles/new")
    assert resp.status_code == 200
    page = html.unescape(resp.get_data(as_text=True))
    for spec in RECIPES.values():
        start = page.index(f'id="recipe-{spec.name}"')
        doc = page[start:page.index("</details>", start)]
        assert spec.description in doc
        for param in spec.params:
            assert f"<code>{param.name}</code>" in doc and param.doc in doc
        for stat, definition in spec.statistics:
            assert f"<code>{stat}</code>" in doc and definition in doc
        assert spec.figure in doc
    cosine = page[page.index('id="recipe-embedding_cosine"'):]
    assert "<code>model</code> <span class=\"muted\">required</span>" in cosine
    assert "<code>bins</code> <span class=\"muted\">default 200</span>" in cosine
    assert "mean of cos(x_i, x_j) over distinct pairs i != j" in cosine


def test_scholars_do_not_get_the_authoring_page(client, auth):
    auth.register("sam")
    assert client.get("/mentor/puzzles/new").status_code == 403
