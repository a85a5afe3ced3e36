"""Mentor pages in the viewer's zone, in a real browser (Tokyo): the attempts of a question
list their times in Tokyo time with UTC in the hover, the day filter sends the browser's zone,
and the scholar's puzzle list shows their week at a glance."""
from __future__ import annotations

import re

import pytest

from tests.browser.actions import log_in, register
from tests.helpers import write_puzzle

pytestmark = pytest.mark.browser


def test_attempt_times_and_day_filter_in_the_browsers_zone(new_page, page_log, live_server, auth, puzzles_dir,
                                                           sync, timezone_id, expect):
    write_puzzle(puzzles_dir)
    sync()
    scholar = new_page()
    register(scholar, "sam", "Sam")
    expect(scholar.locator(".puzzle-list .glance")).to_have_text("answered 0 of 1")
    scholar.goto("/puzzles/test-puzzle")
    scholar.locator("input[name=value]").first.fill("0.5")
    scholar.get_by_role("button", name="Submit").first.click()
    scholar.goto("/")
    expect(scholar.locator(".puzzle-list .glance")).to_have_text(
        "answered 1 of 1 · 1 pending · 1 forecast scored at the reveal")

    auth.create_user("mona", role="mentor")
    page = new_page()
    log_in(page, "mona")
    page.goto("/mentor/puzzles/test-puzzle/questions/mean/submissions")
    when = page.locator("table.submissions time.localtime").first
    expect(when).to_have_attribute("title", re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d UTC$"))
    expect(when).not_to_contain_text("UTC")
    expect(page.locator("input[name=tz]")).to_have_value(timezone_id)
    expect(page.locator("[data-zone-label]")).to_have_text(timezone_id)
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(f"{live_server.url}/mentor/puzzles/test-puzzle/questions/mean/submissions"
                             f"?status=&user=&correct=&since=&until=&tz={timezone_id.replace('/', '%2F')}")
    expect(page.locator("table.submissions tbody tr")).to_have_count(1)
    assert page_log.errors == []
