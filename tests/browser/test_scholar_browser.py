"""A scholar in a real browser: register through the form, open puzzle 1, see its plotly
figure drawn, submit a prediction (a forecast: recorded, scored at the reveal), then after the
reveal see the grade and the truth and find themself on the leaderboard; with no request
leaving the server and times shown in the browser's own time zone."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from freezegun import freeze_time

from tests.browser.actions import register
from tests.helpers import add_artifact, write_puzzle

pytestmark = pytest.mark.browser

BARS = [2, 5, 9, 4, 7, 1, 3]  # seven bars of distinct heights
TRUTH = 0.4321                # distinctive, so that a leak would be visible in the page
FIGURE = {"data": [{"type": "bar", "x": [i / 10 for i in range(len(BARS))], "y": BARS}],
          "layout": {"title": {"text": "Seven bars"}}}


@pytest.fixture
def live_puzzle(live_server, puzzles_dir, sync) -> str:
    """Puzzle 1, live, with its figure and ground truth computed."""
    write_puzzle(puzzles_dir, title="Bars in the browser")
    sync()
    add_artifact(live_server.app, "test-puzzle", "fig", {"mean_cos": TRUTH}, figure=FIGURE)
    return "test-puzzle"


def test_scholar_registers_sees_figure_answers_and_ranks(page, page_log, live_server, live_puzzle,
                                                         expect):
    register(page, "ada", "Ada L.")
    page.get_by_role("link", name="Puzzle 1: Bars in the browser").click()
    expect(page).to_have_url(f"{live_server.url}/puzzles/{live_puzzle}")

    # The figure: plotly (served by the app) draws one SVG bar per value, heights in order.
    plot = page.locator("#figure-fig .plot[data-rendered='1']")
    bars = plot.locator("g.trace.bars g.point path")
    expect(bars).to_have_count(len(BARS))
    assert page.evaluate("document.querySelector('#figure-fig .plot').data[0].y") == BARS
    heights = [bars.nth(i).bounding_box()["height"] for i in range(len(BARS))]
    assert sorted(range(len(BARS)), key=heights.__getitem__) == sorted(range(len(BARS)), key=BARS.__getitem__)
    assert heights[BARS.index(9)] == pytest.approx(9 * heights[BARS.index(1)], rel=0.05)

    # A prediction through the form: a forecast, recorded; nothing about the truth is shown.
    question = page.locator("#q-mean")
    question.get_by_label("Your estimate").fill("0.4")
    question.get_by_role("button", name="Submit").click()
    rows = page.locator("#q-mean table.attempts tbody tr")
    expect(rows).to_have_count(1)
    cells = rows.first.locator("td")
    expect(cells.nth(2)).to_have_text("recorded")
    expect(cells.nth(3)).to_have_text("at the reveal")
    expect(question.locator("p.current")).to_contain_text("Your prediction: 0.4")
    assert str(TRUTH) not in page.content()
    page.get_by_role("link", name="Leaderboard", exact=True).click()
    expect(page.locator("table.leaderboard")).to_contain_text("Nobody is on this board yet")

    # After the reveal (the server's clock moves on): graded, the truth shown, ranked.
    with freeze_time(datetime.now(timezone.utc) + timedelta(days=2, hours=1), tick=True):
        _after_the_reveal(page, page_log, live_server, live_puzzle, expect)


def _after_the_reveal(page, page_log, live_server, live_puzzle, expect) -> None:
    page.goto(f"/puzzles/{live_puzzle}")
    cells = page.locator("#q-mean table.attempts tbody tr").first.locator("td")
    expect(cells.nth(2)).to_have_text("graded")
    # interval grader, point answer: 10 * (1 - |0.4 - 0.4321| / 0.5) = 9.358
    expect(cells.nth(3)).to_have_text("9.36")
    expect(page.locator("#q-mean p.truth")).to_contain_text(str(TRUTH))
    page.get_by_role("link", name="Leaderboard", exact=True).click()
    me = page.locator("table.leaderboard tr.me")
    expect(me).to_have_count(1)
    expect(me.locator("td").nth(0)).to_have_text("1")
    expect(me.locator("td").nth(1)).to_have_text("Ada L.")
    expect(me.locator("td").nth(2)).to_have_text("9.36")
    expect(page.locator("p.mine")).to_contain_text("You are ranked 1 of 1 with 9.36 points")

    # Offline: every request went to the live server, plotly.js included; no script error
    # (the strict CSP would report one if plotly needed eval or an inline script).
    assert f"{live_server.url}/vendor/plotly.min.js" in page_log.requests
    assert page_log.external(live_server.url) == []
    assert page_log.errors == [] and page_log.failed == []


def test_times_are_shown_in_the_viewers_time_zone(page, page_log, live_server, live_puzzle,
                                                  timezone_id, expect):
    assert timezone_id == "Asia/Tokyo"
    page.goto(f"/puzzles/{live_puzzle}")
    times = page.locator(".schedule time.localtime")
    expect(times).to_have_count(3)
    for i in range(3):
        element = times.nth(i)
        utc_text = element.get_attribute("title")  # app.js keeps the server's UTC text here
        shown = element.inner_text().replace("\u202f", " ").replace("\xa0", " ")
        assert utc_text.endswith(" UTC") and shown != utc_text
        when = datetime.fromisoformat(element.get_attribute("datetime").replace("Z", "+00:00"))
        tokyo = when.astimezone(ZoneInfo(timezone_id))
        assert "GMT+9" in shown, shown
        assert f"{tokyo:%b} {tokyo.day}, {tokyo.year}" in shown, shown
        assert f"{tokyo.hour % 12 or 12}:{tokyo:%M %p}" in shown, shown
    assert page_log.external(live_server.url) == []
    assert page_log.errors == [] and page_log.failed == []
