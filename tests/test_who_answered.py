"""Who answered: GET /mentor/puzzles/<slug>/answers, every scholar's status per question.

The expected statuses are written down from what each scholar did in the test (not read back
from rows the code wrote)."""
from __future__ import annotations

import re

from tests.explanation_helpers import add_explanation_question, add_version, grade
from tests.helpers import (TWO_FIGURES, add_artifact, add_cohort, after_reveal, challenge_mean,
                           choice_question, issue_token, mean_question, write_puzzle)
from tests.test_hot_path import counted
from tests.test_mentor_authoring import login_as, page_text, post

SLUG = "test-puzzle"
URL = f"/mentor/puzzles/{SLUG}/answers"
KEYS = ["mean", "cmean", "pick", "why"]
CELL_RE = re.compile(r'<tr id="scholar-\d+"><td>(\w+) <span class="muted">\w+</span></td>\s*(.*?)</tr>', re.S)
STATUS_RE = re.compile(r'<td class="status-\w+" data-status="\w+">([^<]*)</td>')


def _world(app, puzzles_dir, sync):
    questions = (mean_question(grader="abs_tol", grader_params={"tolerance": 0.05}, mode="forecast")
                 + challenge_mean("cmean", figure="fig2") + choice_question(max_attempts=3))
    write_puzzle(puzzles_dir, questions=questions, figures=TWO_FIGURES)
    sync()
    add_explanation_question(app, SLUG)
    app.config["WRONG_ANSWER_WAITS"] = (0,)
    tokens = {u: issue_token(app, u) for u in ("ann", "bob", "cat", "dan")}
    add_cohort(app, "alpha", "Alpha", ["ann", "bob"])
    beta = add_cohort(app, "beta", "Beta", ["cat", "dan"])
    return tokens, beta


def _send(client, tokens, user, key, body):
    resp = client.post(f"/api/v1/puzzles/{SLUG}/questions/{key}/submissions", json=body,
                       headers={"Authorization": f"Bearer {tokens[user]}"})
    assert resp.status_code in (201, 202), resp.get_json()


def _plain(resp) -> str:
    return re.sub(r"<[^>]+>", "", page_text(resp))


def _table(resp) -> dict[str, list[str]]:
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    return {name: STATUS_RE.findall(cells) for name, cells in CELL_RE.findall(html)}


def test_each_status_counts_and_cohort_filter(app, client, auth, puzzles_dir, sync):
    tokens, beta = _world(app, puzzles_dir, sync)
    _send(client, tokens, "ann", "mean", {"value": 0.5})          # forecast: waits for the reveal
    _send(client, tokens, "ann", "pick", {"choice": "beta"})      # right at once
    ann_why = add_version(app, SLUG, "why", "ann", "The mean vector.")
    grade(app, ann_why, ("mean_vector",))                          # graded by a mentor: 6 points
    _send(client, tokens, "bob", "pick", {"choice": "alpha"})     # wrong twice
    _send(client, tokens, "bob", "pick", {"choice": "alpha"})
    _send(client, tokens, "bob", "cmean", {"value": 0.2})         # fig2 not computed: pending
    add_version(app, SLUG, "why", "bob", "No idea.")               # not graded yet
    _send(client, tokens, "dan", "pick", {"choice": "alpha"})
    _send(client, tokens, "dan", "pick", {"choice": "beta"})      # right at the second try
    login_as(auth, "mentor")
    resp = client.get(URL)
    text = _plain(resp)
    assert _table(resp) == {
        "Ann": ["scored at the reveal", "not answered", "solved (1 try)", "scored at the reveal"],
        "Bob": ["not answered", "pending (truth not computed)", "wrong (2 tries)", "pending (not graded yet)"],
        "Cat": ["not answered"] * 4,
        "Dan": ["not answered", "not answered", "solved (2 tries)", "not answered"],
    }
    assert "Mentor1" not in _table(resp)  # scholars only
    for key, n in zip(KEYS, (1, 1, 3, 2)):
        assert f"{key}: answered {n} of 4" in text
    resp = client.get(f"{URL}?cohort={beta}")
    assert list(_table(resp)) == ["Cat", "Dan"] and "pick: answered 1 of 2" in _plain(resp)
    csv = client.get(f"/mentor/puzzles/{SLUG}/answers.csv?cohort={beta}").get_data(as_text=True)
    assert csv.splitlines() == ["username,display_name,mean,cmean,pick,why",
                                "cat,Cat,not answered,not answered,not answered,not answered",
                                "dan,Dan,not answered,not answered,solved (2 tries),not answered"]
    # The overview links here.
    assert URL in client.get(f"/mentor/puzzles/{SLUG}").get_data(as_text=True)
    # Once fig2 is computed, bob's challenge is graded: 0.2 is not within 0.05 of 0.6.
    add_artifact(app, SLUG, "fig2", {"mean_cos": 0.6})
    assert _table(client.get(URL))["Bob"][1] == "wrong (1 try)"
    # After the reveal forecasts and explanations show their points.
    add_artifact(app, SLUG, "fig", {"mean_cos": 0.52})
    with after_reveal():
        client.get(f"/puzzles/{SLUG}")  # the first read scores the forecasts
        rows = _table(client.get(URL))
    assert rows["Ann"] == ["10 points", "not answered", "solved (1 try)", "6 points"]
    assert rows["Bob"][3] == "pending (not graded yet)"


def test_unknown_puzzle_or_cohort_is_404_and_drafts_are_shown(app, client, auth, puzzles_dir, sync):
    _world(app, puzzles_dir, sync)
    login_as(auth, "mentor")
    assert client.get("/mentor/puzzles/ghost/answers").status_code == 404
    assert client.get(f"{URL}?cohort=999").status_code == 404
    assert client.get(f"{URL}?cohort=abc").status_code == 404
    assert post(client, f"/mentor/puzzles/{SLUG}/unpublish").status_code == 303
    resp = client.get(URL)
    assert resp.status_code == 200 and len(_table(resp)) == 4


def test_queries_do_not_grow_with_scholars(app, client, auth, puzzles_dir, sync):
    tokens, _ = _world(app, puzzles_dir, sync)
    login_as(auth, "mentor")
    _send(client, tokens, "ann", "pick", {"choice": "beta"})
    with counted(app) as few:
        client.get(URL)
    more = {u: issue_token(app, u) for u in ("eve", "fay", "gus", "hal")}
    for user in more:
        _send(client, more, user, "pick", {"choice": "alpha"})
        _send(client, more, user, "mean", {"value": 0.1})
        add_version(app, SLUG, "why", user, "Because.")
    with counted(app) as many:
        resp = client.get(URL)
    assert len(_table(resp)) == 8
    assert len(many["statements"]) == len(few["statements"]), many["statements"]
