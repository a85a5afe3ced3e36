"""A mentor in a real browser: write a puzzle in the mentor area's form (live Markdown preview,
times typed in the browser's zone), preview it as a scholar, publish it, and check that a
scholar then sees exactly the previewed statement."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from tests.browser.actions import log_in, register

pytestmark = pytest.mark.browser

SECRET = "SECRET-ANSWER-TEXT"
STATEMENT = ("Look at **this** figure. $x^2$\n\n::: spoiler Hint\nThe hint.\n:::\n\n"
             "<script>window.injected = 1</script>\n")


def local_input(dt: datetime) -> str:
    """A datetime-local input's value."""
    return dt.strftime("%Y-%m-%dT%H:%M")


def test_mentor_creates_previews_and_publishes_a_puzzle(new_page, page_log, live_server, auth,
                                                        timezone_id, expect):
    auth.create_user("mona", role="mentor")
    page = new_page()
    log_in(page, "mona")
    page.get_by_role("link", name="Mentor", exact=True).click()
    page.get_by_role("link", name="New puzzle").click()
    expect(page).to_have_url(f"{live_server.url}/mentor/puzzles/new")

    # A fresh form defaults to the browser's time zone (static/mentor.js).
    expect(page.locator("#tz")).to_have_value(timezone_id)
    expect(page.locator("#tz-label")).to_have_text(timezone_id)

    zone = ZoneInfo(timezone_id)
    now = datetime.now(zone).replace(second=0, microsecond=0)
    release, deadline, reveal = now - timedelta(days=1), now + timedelta(days=1), now + timedelta(days=2)
    form = page.locator("form.mentor-form")
    slug = form.get_by_label("Slug", exact=True)
    assert slug.evaluate("el => { el.value = 'Bad Slug'; return el.validity.patternMismatch; }")
    slug.fill("bars-web")
    assert slug.evaluate("el => el.checkValidity()")
    form.get_by_label("Title", exact=True).fill("Made in the browser")
    form.get_by_label("Summary (one line for the puzzle list)").fill("Authored through the mentor forms.")
    form.locator("textarea[name=statement_md]").fill(STATEMENT)
    form.locator("textarea[name=answer_md]").fill(f"The answer: {SECRET}.")
    form.get_by_label("Released", exact=True).fill(local_input(release))
    form.get_by_label("Deadline", exact=True).fill(local_input(reveal))  # wrong: after the reveal
    form.get_by_label("Answer revealed", exact=True).fill(local_input(deadline))

    # The live preview is the server's sanitising renderer: bold and math, no script.
    preview = page.locator("#statement-preview")
    expect(preview.locator("strong")).to_have_text("this")
    expect(preview.locator("math")).to_have_count(1)
    expect(preview).to_contain_text("<script>window.injected = 1</script>")

    # A bad schedule is refused with the reason, and the form comes back as typed.
    form.get_by_role("button", name="Create (unpublished)").click()
    expect(page.get_by_role("alert")).to_contain_text("Not saved")
    assert page.evaluate("window.injected") is None
    form = page.locator("form.mentor-form")
    expect(form.get_by_label("Title", exact=True)).to_have_value("Made in the browser")
    expect(form.locator("#tz")).to_have_value(timezone_id)
    form.get_by_label("Deadline", exact=True).fill(local_input(deadline))
    form.get_by_label("Answer revealed", exact=True).fill(local_input(reveal))
    form.get_by_role("button", name="Create (unpublished)").click()

    expect(page).to_have_url(f"{live_server.url}/mentor/puzzles/bars-web")
    expect(page.get_by_role("status").filter(has_text="Created puzzle 1 (bars-web), unpublished")).to_be_visible()
    # Typed in Tokyo, stored in UTC (the server's text), shown again in Tokyo time.
    released = page.locator(".schedule time.localtime").first
    utc = release.astimezone(timezone.utc)
    expect(released).to_have_attribute("title", f"{utc:%Y-%m-%d %H:%M} UTC")
    expect(released).to_contain_text(f"{release.hour % 12 or 12}:{release:%M}")

    # The scholar's view: statement rendered, spoiler collapsed, no answer, submitting off.
    page.get_by_role("link", name="Preview as a scholar").click()
    expect(page.get_by_role("status").filter(has_text="Preview: this is what a scholar sees")).to_be_visible()
    shown = page.locator("section.statement")
    expect(shown.locator("strong")).to_have_text("this")
    expect(shown.locator("math")).to_have_count(1)
    expect(shown.locator("details.spoiler summary")).to_have_text("Hint")
    expect(shown.get_by_text("The hint.")).to_be_hidden()
    expect(shown.locator("script")).to_have_count(0)
    expect(page.get_by_role("button", name="Submit")).to_be_disabled()
    assert SECRET not in page.content()
    previewed = shown.inner_html()

    page.go_back()
    page.get_by_role("button", name="Publish", exact=True).click()
    # Its figure is not computed: publishing needs the explicit override.
    expect(page.locator("#state-fig")).to_contain_text("queued")
    page.get_by_label("Publish anyway: scholars see").check()
    page.get_by_role("button", name="Publish anyway").click()
    expect(page.get_by_role("status").filter(has_text="Published")).to_be_visible()

    scholar = new_page()  # another browser context: another user
    register(scholar, "sam", "Sam")
    scholar.get_by_role("link", name="Puzzle 1: Made in the browser").click()
    assert scholar.locator("section.statement").inner_html() == previewed
    expect(scholar.get_by_role("button", name="Submit")).to_be_enabled()
    assert SECRET not in scholar.content()

    assert page_log.external(live_server.url) == []
    assert page_log.errors == []
    assert page_log.failed == [f"400 POST {live_server.url}/mentor/puzzles/new"]
