"""Explanations as a scholar sees them: writing (preview, word budget, versions), nothing of the
grading nor of anyone else's explanation before the reveal, then the grading, the featured
explanations and the "helpful" button after it; the profile's anonymity choice; the API."""
from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from puzzle_platform.extensions import db
from puzzle_platform.models import User
from puzzle_platform.models.explanation import Reaction
from tests.explanation_helpers import add_explanation_question, add_version, grade
from tests.helpers import after_reveal, choice_question, csrf_token, issue_token, write_puzzle

P = "/puzzles/test-puzzle"
API = "/api/v1/puzzles/test-puzzle/questions/why/explanation"
ADA_TEXT = "Ada-Explanation-Text-5521: the mean vector dominates."
BOB_TEXT = "Bob-Explanation-Text-7734: anisotropy of the embedding."
COMMENT = "Mentor-Comment-9911"


@pytest.fixture
def world(app, puzzles_dir, sync, auth):
    """A live puzzle with an explanation question; scholars ada and bob, mentor mona."""
    write_puzzle(puzzles_dir, questions=choice_question(), figures="")
    sync()
    add_explanation_question(app, "test-puzzle", word_budget=5)
    for name, role in (("ada", "scholar"), ("bob", "scholar"), ("mona", "mentor")):
        auth.create_user(name, role=role)
    return app


def client_for(app, username: str):
    client = app.test_client()
    resp = client.post("/login", data={"csrf_token": csrf_token(client), "username": username,
                                       "password": "correct horse battery"})
    assert resp.status_code == 302
    return client


def graded_world(app) -> dict[str, int]:
    """Ada's two versions (the second counted, graded and featured), Bob's graded one."""
    add_version(app, "test-puzzle", "why", "ada", "Ada's first draft.")
    ada = add_version(app, "test-puzzle", "why", "ada", ADA_TEXT)
    bob = add_version(app, "test-puzzle", "why", "bob", BOB_TEXT)
    return {"ada": grade(app, ada, ("mean_vector", "wrong_sign"), COMMENT, featured=True, mentor="mona"),
            "bob": grade(app, bob, ("anisotropy",), "Bob's comment.", mentor="mona")}


def test_writing_an_explanation_versions_word_budget_and_preview(world):
    ada = client_for(world, "ada")
    page = ada.get(P).get_data(as_text=True)
    assert 'name="text"' in page and "0 / 5 words" in page and "Editable until the deadline" in page
    token = csrf_token(ada, P)
    for text in ("One two three.", "Now a **much** longer explanation, over the budget."):
        resp = ada.post(P + "/questions/why", data={"csrf_token": token, "text": text})
        assert resp.status_code == 303
    page = ada.get(P).get_data(as_text=True)
    assert "Now a **much** longer explanation, over the budget.</textarea>" in page  # pre-filled: the latest
    assert "8 / 5 words (over the budget" in page and "over-budget" in page
    assert page.count("<summary>view</summary>") == 2 and "<strong>much</strong>" in page  # both versions kept
    assert "Your grading:" not in page

    preview = ada.post("/preview", json={"markdown": "$x^2$ <script>alert(1)</script> *hi*"},
                       headers={"X-CSRFToken": token})
    html = preview.get_json()["html"]
    assert preview.status_code == 200 and "<math" in html and "<em>hi</em>" in html and "<script>" not in html
    too_long = ada.post("/preview", json={"markdown": "x" * 5001}, headers={"X-CSRFToken": token})
    assert too_long.status_code == 400 and "5000" in too_long.get_data(as_text=True)
    assert ada.post("/preview", json={"markdown": "x"}).status_code == 400  # no CSRF token
    assert world.test_client().post("/preview", json={"markdown": "x"}).status_code in (400, 401)


def test_preview_is_rate_limited(world):
    ada = client_for(world, "ada")
    token = csrf_token(ada, P)
    codes = [ada.post("/preview", json={"markdown": "a"}, headers={"X-CSRFToken": token}).status_code
             for _ in range(61)]
    assert codes[:60] == [200] * 60 and codes[60] == 429


def test_before_the_reveal_no_grading_and_nothing_of_others(world):
    grade_ids = graded_world(world)
    token = issue_token(world, "bob")
    bob = client_for(world, "bob")
    page = bob.get(P).get_data(as_text=True)
    assert BOB_TEXT in page  # his own
    for secret in (ADA_TEXT, COMMENT, "Bob&#39;s comment.", "Bob's comment.", "Explains anisotropy",
                   "Your grading:", "Featured explanations", "helpful"):
        assert secret not in page, secret
    api = bob.get(API, headers={"Authorization": f"Bearer {token}"})
    body = api.get_json()
    assert api.status_code == 200 and [v["text"] for v in body["versions"]] == [BOB_TEXT]
    assert "grading" not in body and "featured" not in body and ADA_TEXT not in api.get_data(as_text=True)
    # The helpful button does not exist yet: 404 as if nothing were featured.
    resp = bob.post(P + f"/questions/why/featured/{grade_ids['ada']}/helpful",
                    data={"csrf_token": csrf_token(bob, P)})
    assert resp.status_code == 404
    # Another scholar's data is not reachable through the mentors' CSV either.
    assert bob.get(f"/mentor/puzzles/test-puzzle/submissions.csv").status_code == 403


def test_after_the_reveal_grading_featured_and_helpful(world):
    grade_ids = graded_world(world)
    ada, bob = client_for(world, "ada"), client_for(world, "bob")
    with after_reveal():
        page = ada.get(P).get_data(as_text=True)
        assert "Your grading: 3 of 10 points" in page and COMMENT in page
        assert "Names the shared mean vector <strong>+6</strong>" in page
        assert "Gets the sign of the effect wrong <strong>-3</strong>" in page
        assert "Explains anisotropy" not in page  # not applied to hers
        bob_page = bob.get(P).get_data(as_text=True)
        assert "Your grading: 4 of 10 points" in bob_page and COMMENT not in bob_page
        assert "Featured explanations" in bob_page and ADA_TEXT in bob_page and "By <strong>Ada</strong>" in bob_page
        assert "Ada&#39;s first draft" not in bob_page and "first draft" not in bob_page  # only the counted version
        assert bob_page.index("The answer") < bob_page.index("Featured explanations")
        assert BOB_TEXT not in ada.get(P).get_data(as_text=True)  # not featured: private

        url = P + f"/questions/why/featured/{grade_ids['ada']}/helpful"
        token = csrf_token(bob, P)
        assert bob.post(url, data={"csrf_token": token}).status_code == 303
        assert bob.post(url, data={"csrf_token": token}).status_code == 303  # told "already"
        assert "1 found this helpful" in bob.get(P).get_data(as_text=True)
        assert ada.post(url, data={"csrf_token": csrf_token(ada, P)}).status_code == 403  # her own
        bob_grade = P + f"/questions/why/featured/{grade_ids['bob']}/helpful"
        assert ada.post(bob_grade, data={"csrf_token": csrf_token(ada, P)}).status_code == 404  # not featured
        assert bob.post(url, data={}).status_code == 400  # CSRF
    with world.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Reaction)) == 1


def test_anonymous_featuring_from_the_profile(world):
    graded_world(world)
    ada = client_for(world, "ada")
    assert "Show my explanations anonymously if featured" in ada.get("/profile").get_data(as_text=True)
    resp = ada.post("/profile/feature-anonymously", data={"csrf_token": csrf_token(ada, "/profile"),
                                                          "anonymous": "1"})
    assert resp.status_code == 303
    assert re.search(r'name="anonymous" value="1"\s+checked', ada.get("/profile").get_data(as_text=True))
    assert ada.post("/profile/feature-anonymously", data={"csrf_token": csrf_token(ada, "/profile"),
                                                          "anonymous": "yes"}).status_code == 400
    with world.app_context():
        assert db.session.scalar(sa.select(User.feature_anonymously).where(User.username == "ada")) is True
    with after_reveal():
        page = client_for(world, "bob").get(P).get_data(as_text=True)
    assert "By <strong>Anonymous scholar</strong>" in page and "By <strong>Ada</strong>" not in page
    ada.post("/profile/feature-anonymously", data={"csrf_token": csrf_token(ada, "/profile")})  # unticked
    with after_reveal():
        assert "By <strong>Ada</strong>" in client_for(world, "bob").get(P).get_data(as_text=True)


def test_api_explanation_before_and_after_the_reveal(world, client):
    graded_world(world)
    headers = {"Authorization": f"Bearer {issue_token(world, 'ada')}"}
    body = client.get(API, headers=headers).get_json()
    assert [v["text"] for v in body["versions"]] == ["Ada's first draft.", ADA_TEXT]
    assert body["word_budget"] == 5 and body["revealed"] is False and "grading" not in body
    assert client.get("/api/v1/puzzles/test-puzzle/questions/pick/explanation", headers=headers).status_code == 404
    assert client.get(API).status_code == 401
    with after_reveal():
        body = client.get(API, headers=headers).get_json()
    assert body["grading"]["points"] == 3 and body["grading"]["comment"] == COMMENT
    assert [(i["key"], i["points"]) for i in body["grading"]["items"]] == [("mean_vector", 6), ("wrong_sign", -3)]
    assert [(f["author"], f["text"], f["helpful"]) for f in body["featured"]] == [("Ada", ADA_TEXT, 0)]
    puzzle = client.get("/api/v1/puzzles/test-puzzle", headers=headers).get_json()
    assert {q["key"]: q["word_budget"] for q in puzzle["questions"]} == {"pick": None, "why": 5}
