"""Before the reveal, nothing a scholar (or an anonymous visitor) can request carries a truth,
the answer text, an unreleased puzzle, or another scholar's attempts and private data.

The crawl requests every GET route of the app (HTML and JSON; the API with the scholar's own
token) with every combination of the world's slugs, question keys, cohorts, usernames and
ids, then follows every same-site link it finds (breadth first, bounded), and looks for each
secret in every response body in the formats a page might print it. Positive controls show
that the same crawl does find these strings where they are allowed: as a mentor, and as the
scholar once the puzzle is revealed.
"""
from __future__ import annotations

from datetime import timedelta

import pytest

from puzzle_platform.timeutil import utcnow
from tests.security.conftest import (CLOSED_ANSWER, CLOSED_LITERAL, CORA_EXPLANATION, EX_COMMENTS,
                                     FUTURE_ANSWER, FUTURE_LITERAL, FUTURE_STATEMENT, FUTURE_TITLE,
                                     HIDDEN_POST, HIDE_REASON, LIVE, LIVE_ANSWER, LIVE_LITERAL, LIVE_RUBRIC,
                                     LIVE_STATS, LIVE_TEXT_TRUTH, OLD_FEATURED, OLGA_CLOSED_VALUE,
                                     OLGA_DISPLAY, OLGA_EXPLANATION, OLGA_LIVE, OLGA_OVERRIDE_REASON,
                                     OLGA_TEXT, REVEALED, SAM_EXPLANATION, SAM_TEXT, SKIP_PREFIXES,
                                     client_as, crawl_as, frozen)
from tests.helpers import csrf_token



def number_formats(value: float) -> set[str]:
    """How a page or a JSON body may print a number."""
    return {repr(value), str(value), f"{value:.6g}", f"{value:.4f}", f"{value:.3f}"}


def secrets_before_reveal(world, role: str) -> dict[str, str]:
    """text -> what it is, for everything `role` (scholar sam or anonymous) must not see."""
    found: dict[str, str] = {}
    numbers = {**{f"live truth {k}": v for k, v in LIVE_STATS.items()}, "live literal truth": LIVE_LITERAL,
               "closed literal truth": CLOSED_LITERAL, "upcoming literal truth": FUTURE_LITERAL,
               **{f"olga's live {k}": v for k, v in OLGA_LIVE.items()},
               "olga's closed-puzzle value": OLGA_CLOSED_VALUE}
    for label, value in numbers.items():
        found.update({text: label for text in number_formats(value)})
    found.update({
        LIVE_TEXT_TRUTH: "live text truth", LIVE_ANSWER: "live answer text",
        CLOSED_ANSWER: "closed answer text", FUTURE_ANSWER: "upcoming answer text",
        FUTURE_TITLE: "upcoming title", FUTURE_STATEMENT: "upcoming statement",
        OLGA_TEXT: "olga's text answer", OLGA_OVERRIDE_REASON: "override reason on olga's attempt",
        HIDDEN_POST: "hidden post body", HIDE_REASON: "reason a post by olga was hidden",
        world.codes["alpha"]: "invite code of a cohort sam is not in",
        OLGA_EXPLANATION: "olga's explanation (featured, but not before the reveal)",
        CORA_EXPLANATION: "cora's explanation",
        **{comment: f"mentor's comment on {name}'s explanation (sam's own too: shown at the reveal)"
           for name, comment in EX_COMMENTS.items()},
        **{description: "a rubric item (applied to sam's own explanation too: shown at the reveal)"
           for _, description, _ in LIVE_RUBRIC},
        **{world.emails[u]: f"{u}'s email" for u in ("olga", "cora", "mona", "adam")},
        **{world.tokens[u]: f"{u}'s API token" for u in ("olga", "cora", "mona", "adam")},
        **{world.token_prefixes[u]: f"{u}'s API token prefix" for u in ("olga", "cora", "mona", "adam")},
    })
    if role == "anonymous":
        found.update({SAM_TEXT: "sam's text answer", SAM_EXPLANATION: "sam's explanation",
                      world.emails["sam"]: "sam's email",
                      world.token_prefixes["sam"]: "sam's API token prefix"})
    return found


def leaks(pages, secrets: dict[str, str]) -> list[str]:
    """Each secret found in a body; not one the crawler itself put in the URL (an invite
    code in /cohorts/join/<code> comes back on the page: that tells the visitor nothing)."""
    return [f"{page.url} ({page.status}): {label} {text!r}"
            for page in pages.values() for text, label in secrets.items()
            if text in page.body and text not in page.url]


@pytest.mark.parametrize("role", ["scholar", "anonymous"])
def test_nothing_secret_before_the_reveal(app, world, role):
    pages = crawl_as(app, world, role)
    assert leaks(pages, secrets_before_reveal(world, role)) == []
    # The crawl reached what matters: pages found only by following links, the live puzzle
    # in HTML and JSON, and other scholars' public data (so their private data was in reach).
    assert any(p.found_by_link for p in pages.values())
    assert pages[f"/puzzles/{LIVE}"].status == 200
    assert pages[f"/puzzles/{LIVE}/figures/fig/notebook.ipynb"].status == 404  # holds the truth
    assert any(OLGA_DISPLAY in p.body for p in pages.values())
    assert not any(p.url.startswith(SKIP_PREFIXES) for p in pages.values())
    if role == "scholar":
        assert pages[f"/api/v1/puzzles/{LIVE}"].status == 200
        assert pages[f"/puzzles/{LIVE}/discussion"].status == 200
        assert any(SAM_TEXT in p.body for p in pages.values())  # his own attempts, yes
        assert SAM_EXPLANATION in pages[f"/puzzles/{LIVE}"].body  # and his own explanation
        assert pages[f"/api/v1/puzzles/{LIVE}/questions/why/explanation"].status == 200
        assert OLD_FEATURED in pages[f"/puzzles/{REVEALED}"].body  # featured, revealed: shown
    else:
        assert pages[f"/api/v1/puzzles/{LIVE}"].status == 401


def test_the_crawl_finds_the_secrets_where_they_are_allowed(app, world):
    """Positive control: a mentor's crawl sees each kind of secret (so the scholar's clean
    result means hidden, not unreached)."""
    pages = crawl_as(app, world, "mentor")
    seen = {text for page in pages.values() for text in secrets_before_reveal(world, "scholar")
            if text in page.body}
    for text in (f"{LIVE_STATS['mean_cos']:.6g}", f"{LIVE_LITERAL:.6g}", f"{CLOSED_LITERAL:.6g}",
                 LIVE_TEXT_TRUTH, LIVE_ANSWER, CLOSED_ANSWER, FUTURE_ANSWER, FUTURE_TITLE, FUTURE_STATEMENT,
                 OLGA_TEXT, OLGA_OVERRIDE_REASON, OLGA_EXPLANATION, CORA_EXPLANATION, HIDDEN_POST, HIDE_REASON, world.codes["alpha"],
                 repr(OLGA_LIVE["value"]), repr(OLGA_CLOSED_VALUE)):
        assert text in seen, text


def test_after_the_reveal_the_scholar_sees_truth_and_answer(app, world):
    client = client_as(app, "scholar")
    with frozen(utcnow() + timedelta(days=3)):
        page = client.get(f"/puzzles/{LIVE}").get_data(as_text=True)
        api = client.get(f"/api/v1/puzzles/{LIVE}", headers=world.bearer("scholar")).get_json()
        notebook = client.get(f"/puzzles/{LIVE}/figures/fig/notebook.ipynb").get_data(as_text=True)
    assert f"{LIVE_STATS['mean_cos']:.6g}" in page and LIVE_ANSWER in page and LIVE_TEXT_TRUTH in page
    assert api["answer_md"].strip() == LIVE_ANSWER
    assert repr(LIVE_STATS["mean_cos"]) in notebook and f"/puzzles/{LIVE}/figures/fig/notebook.ipynb" in page
    assert {q["key"]: q["truth"] for q in api["questions"]}["mean"] == LIVE_STATS["mean_cos"]


def test_another_scholars_explanation_before_and_after_the_reveal(app, world):
    """Sam never sees olga's or cora's explanation before the reveal (page, API, featured
    list, the mentors' CSV), nor any grading, his own included; after it he sees his own
    grading and olga's featured explanation, never cora's (not featured) nor their comments."""
    client, headers = client_as(app, "scholar"), world.bearer("scholar")
    api_url = f"/api/v1/puzzles/{LIVE}/questions/why/explanation"
    page = client.get(f"/puzzles/{LIVE}").get_data(as_text=True)
    api = client.get(api_url, headers=headers)
    assert SAM_EXPLANATION in page and [v["text"] for v in api.get_json()["versions"]] == [SAM_EXPLANATION]
    assert "grading" not in api.get_json() and "featured" not in api.get_json()
    for body in (page, api.get_data(as_text=True)):
        for secret in (OLGA_EXPLANATION, CORA_EXPLANATION, *EX_COMMENTS.values(), LIVE_RUBRIC[0][1]):
            assert secret not in body
    assert "Featured explanations" not in page
    assert client.get(f"/mentor/puzzles/{LIVE}/submissions.csv").status_code == 403
    helpful = f"/puzzles/{LIVE}/questions/why/featured/{world.grades['olga_live']}/helpful"
    assert client.post(helpful, data={"csrf_token": csrf_token(client, f"/puzzles/{LIVE}")}).status_code == 404

    with frozen(utcnow() + timedelta(days=3)):
        page = client.get(f"/puzzles/{LIVE}").get_data(as_text=True)
        body = client.get(api_url, headers=headers).get_json()
        assert client.post(helpful, data={"csrf_token": csrf_token(client, f"/puzzles/{LIVE}")}).status_code == 303
    assert OLGA_EXPLANATION in page and f"By <strong>{OLGA_DISPLAY}</strong>" in page
    assert EX_COMMENTS["sam"] in page and LIVE_RUBRIC[0][1] in page  # his own grading, now
    for secret in (CORA_EXPLANATION, EX_COMMENTS["olga"], EX_COMMENTS["cora"]):
        assert secret not in page and secret not in str(body)
    assert [f["text"] for f in body["featured"]] == [OLGA_EXPLANATION]
    assert body["grading"]["comment"] == EX_COMMENTS["sam"] and body["grading"]["points"] == 4
