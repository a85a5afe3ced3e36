"""The two main journeys at desktop (1280x800, light theme) and phone (390x844, dark theme)
sizes: a scholar registers, answers a forecast and sees it scored after the reveal; a mentor
authors a puzzle in the form, computes its figure, publishes it and grades an explanation
with the keyboard. Nothing on the way may scroll sideways.

With SCREENSHOTS_DIR set (e.g. `SCREENSHOTS_DIR=docs/screenshots`), each step also saves a
named screenshot there: docs/SCREENSHOTS.md shows the committed set. A failing test leaves
screenshots of its pages in tests/browser/artifacts/ (see conftest.py).
"""
from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from freezegun import freeze_time

from tests.browser.actions import log_in, open_nav_link, register, tab_to
from tests.explanation_helpers import add_version
from tests.helpers import add_artifact, figure_toml, mean_question, write_puzzle

pytestmark = pytest.mark.browser

SIZES = {"desktop": ({"width": 1280, "height": 800}, "light"),
         "phone": ({"width": 390, "height": 844}, "dark")}
TRUTH = {"mean_cos": 0.4321, "std_cos": 0.05, "mean_norm": 2.0}
FIGURE = {"data": [{"type": "histogram", "x": [0.31, 0.35, 0.38, 0.41, 0.42, 0.43, 0.44, 0.46, 0.5, 0.55]}],
          "layout": {"title": {"text": "Cosine similarity between random pairs of token embeddings"},
                     "xaxis": {"title": {"text": "cosine"}}, "yaxis": {"title": {"text": "pairs"}}}}
EXPLAIN = '''
[[questions]]
key = "why"
kind = "explanation"
prompt = "Why are the cosines positive?"
points = 10
[[questions.rubric]]
id = "mean_vector"
description = "Names the shared mean vector"
points = 6
[[questions.rubric]]
id = "anisotropy"
description = "Explains anisotropy"
points = 4
'''


class Shots:
    """Named screenshots of each step when SCREENSHOTS_DIR is set (the viewport only: small files)."""

    def __init__(self, folder: str | None, variant: str) -> None:
        self.folder = Path(folder) if folder else None
        self.variant = variant

    def __call__(self, page, step: str) -> None:
        if self.folder is None:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        page.evaluate("document.activeElement && document.activeElement.blur()")  # no caret or focus ring
        page.screenshot(path=str(self.folder / f"{step}-{self.variant}.png"), animations="disabled",
                        caret="hide")


@pytest.fixture(params=list(SIZES))
def variant(request) -> str:
    return request.param


@pytest.fixture
def open_sized(new_page, variant):
    """A new page at the variant's size and colour scheme."""
    viewport, scheme = SIZES[variant]
    return lambda: new_page(viewport=viewport, color_scheme=scheme)


@pytest.fixture
def shots(variant) -> Shots:
    return Shots(os.environ.get("SCREENSHOTS_DIR"), variant)


def assert_fits(page) -> None:
    extra = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert extra <= 0, f"{page.url} is {extra} px wider than the screen"


def test_scholar_registers_answers_and_sees_the_result(open_sized, shots, page_log, live_server, puzzles_dir,
                                                       sync, expect):
    write_puzzle(puzzles_dir, title="Do embeddings point the same way?", figures=figure_toml(title="Embedding cosines"))
    sync()
    add_artifact(live_server.app, "test-puzzle", "fig", TRUTH, figure=FIGURE)
    page = open_sized()
    register(page, "ada", "Ada L.")
    shots(page, "scholar-1-puzzles")
    page.get_by_role("link", name="Puzzle 1: Do embeddings point the same way?").click()
    expect(page.locator("#figure-fig .plot[data-rendered='1']")).to_be_visible()
    assert_fits(page)
    page.locator("#figure-fig").scroll_into_view_if_needed()
    shots(page, "scholar-2-figure")

    question = page.locator("#q-mean")
    question.get_by_label("Your estimate").fill("0.4")
    question.get_by_role("button", name="Submit").click()
    expect(question.locator("p.current")).to_contain_text("Your prediction: 0.4")
    assert_fits(page)
    page.locator("#q-mean").scroll_into_view_if_needed()

    with freeze_time(datetime.now(timezone.utc) + timedelta(days=2, hours=1), tick=True):
        page.reload()
        cells = page.locator("#q-mean table.attempts tbody tr").first.locator("td")
        expect(cells.nth(2)).to_have_text("graded")
        expect(cells.nth(3)).to_have_text("9.36")  # 10 * (1 - |0.4 - 0.4321| / 0.5)
        expect(page.locator("#q-mean p.truth")).to_contain_text("0.4321")
        assert_fits(page)
        page.locator("#q-mean").scroll_into_view_if_needed()
        shots(page, "scholar-4-revealed")
        open_nav_link(page, "Leaderboard")
        expect(page.locator("table.leaderboard tr.me td").nth(2)).to_have_text("9.36")
        assert_fits(page)
    assert page_log.external(live_server.url) == []
    assert page_log.errors == [] and page_log.failed == []


def local_input(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M")


def test_mentor_authors_computes_publishes_and_grades(open_sized, shots, page_log, live_server, auth,
                                                      timezone_id, expect):
    auth.create_user("mona", role="mentor")
    auth.create_user("olga")
    page = open_sized()
    log_in(page, "mona")
    open_nav_link(page, "Mentor")
    page.get_by_role("link", name="New puzzle").click()
    now = datetime.now(ZoneInfo(timezone_id)).replace(second=0, microsecond=0)
    form = page.locator("form.mentor-form")
    form.get_by_label("Slug", exact=True).fill("cosines")
    form.get_by_label("Title", exact=True).fill("Do embeddings point the same way?")
    form.get_by_label("Summary (one line for the puzzle list)").fill("Cosines between token embeddings.")
    form.locator("textarea[name=statement_md]").fill("Look at **the histogram**: what is the mean $\\cos$?")
    form.locator("textarea[name=answer_md]").fill("They share a mean vector.")
    for label, when in (("Released", now - timedelta(days=1)), ("Deadline", now + timedelta(days=1)),
                        ("Answer revealed", now + timedelta(days=2))):
        form.get_by_label(label, exact=True).fill(local_input(when))
    expect(page.locator("#statement-preview strong")).to_have_text("the histogram")
    assert_fits(page)
    page.locator("#figure-0").evaluate("el => el.scrollIntoView({block: 'start'})")
    shots(page, "mentor-1-authoring")  # the structured form: a figure's recipe and parameters
    form.get_by_role("button", name="Edit as TOML").click()  # the expert view of the same form
    form = page.locator("form.mentor-form")
    form.locator("textarea[name=spec_toml]").fill(figure_toml(title="Embedding cosines") + mean_question() + EXPLAIN)
    assert_fits(page)
    form.get_by_role("button", name="Create (unpublished)").click()
    expect(page.get_by_role("status").filter(has_text="Created puzzle 1 (cosines), unpublished")).to_be_visible()

    # Compute: the job is queued and its progress shown; the test stands in for the worker,
    # and the page (static/app.js polls the progress) reloads once the figure exists.
    page.get_by_role("button", name="Compute now").click()
    expect(page.locator("#figure-fig .job-progress")).to_be_visible()
    assert_fits(page)
    shots(page, "mentor-2-computing")
    add_artifact(live_server.app, "cosines", "fig", TRUTH, figure=FIGURE)
    expect(page.locator("#figure-fig")).to_contain_text("Computed", timeout=15_000)

    page.get_by_role("button", name="Publish", exact=True).click()
    # The confirmation lists the figure as computed; nothing is published before it.
    expect(page.locator("#state-fig")).to_contain_text("computed at")
    assert_fits(page)
    shots(page, "mentor-3-publishing")
    page.get_by_role("button", name="Publish", exact=True).click()
    expect(page.get_by_role("status").filter(has_text="Published")).to_be_visible()
    assert_fits(page)

    # Grade olga's explanation with the keyboard alone: Tab to the rubric, Space ticks an
    # item, type the comment, Tab to "Save and next ungraded" and press Enter.
    add_version(live_server.app, "cosines", "why", "olga", "All tokens share **a mean vector**.")
    page.goto("/mentor/puzzles/cosines/questions/why/explanations")
    expect(page.locator("#grading-progress")).to_contain_text("0 of 1 graded")
    page.get_by_role("button", name="Grade next ungraded").click()
    expect(page.locator("#explanation strong")).to_have_text("a mean vector")
    first = page.locator('input[data-digit="1"]')
    tab_to(page, first, "the first rubric item", limit=60)
    page.keyboard.press("Space")
    expect(first).to_be_checked()
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    page.keyboard.type("Clear and right.")
    assert_fits(page)
    shots(page, "mentor-4-grading")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "save-next"
    page.keyboard.press("Enter")
    expect(page.locator("#grading-progress")).to_contain_text("1 of 1 graded")
    assert_fits(page)
    assert page_log.external(live_server.url) == []
    assert page_log.errors == [] and page_log.failed == []
