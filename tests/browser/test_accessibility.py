"""Accessibility in a real browser: axe-core on every page each role can reach (the list comes
from the app's routes: tests/browser/site_pages.py), in the light and the dark theme, at
desktop width. Any violation of impact "serious" or "critical" fails, listed with its rule id
and the elements it was found on. Also: a question answered with the keyboard alone."""
from __future__ import annotations

import pytest

from tests.browser.actions import tab_to
from tests.browser.site_pages import ROLES, log_in_browser, reachable_pages
from tests.security.conftest import LIVE, app, world  # noqa: F401 (the security world as `app`)

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1280, "height": 800}
FAILING_IMPACTS = ("serious", "critical")


@pytest.fixture(scope="module")
def axe(browser):
    """axe-core, injected into each page through the browser's devtools protocol (the CSP does
    not apply to it, and the pages keep theirs)."""
    try:
        from axe_playwright_python.sync_playwright import Axe
    except ImportError:
        pytest.fail("axe-playwright-python is not installed (pip install -e '.[dev]')")
    return Axe()


def serious_violations(results) -> list[str]:
    """One line per failing rule: id, impact, what it asks, and the elements (CSS targets)."""
    lines = []
    for v in results.response["violations"]:
        if v["impact"] in FAILING_IMPACTS:
            targets = "; ".join(" ".join(map(str, node["target"])) for node in v["nodes"][:8])
            lines.append(f"{v['id']} ({v['impact']}: {v['help']}) at {targets}")
    return lines


def pages_for(app, world, role: str) -> list[str]:  # noqa: F811 (app, world: fixtures' values)
    """The role's pages; an admin's only where they differ from a mentor's (the same templates
    otherwise, and each page costs two axe runs)."""
    pages = reachable_pages(app, world, role)
    if role == "admin":
        mentor = set(reachable_pages(app, world, "mentor"))
        pages = [url for url in pages if url not in mentor or url == "/"]
    return pages


@pytest.mark.parametrize("role", ROLES)
def test_no_serious_accessibility_violations(role, app, world, new_page, axe, page_log):  # noqa: F811
    pages = pages_for(app, world, role)
    assert "/" in pages and len(pages) >= (2 if role == "admin" else 4), pages
    page = new_page()
    page.set_viewport_size(DESKTOP)
    log_in_browser(page, role)
    problems = []
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        for url in pages:
            page.goto(url)
            assert page.evaluate("matchMedia('(prefers-color-scheme: dark)').matches") == (scheme == "dark")
            problems += [f"[{scheme}] {url}: {line}" for line in serious_violations(axe.run(page))]
    assert problems == [], "serious or critical axe violations:\n" + "\n".join(problems)
    assert page_log.errors == [], page_log.errors


def test_the_axe_check_is_not_vacuous(new_page, live_server, axe):
    """A page with an unlabelled field and low-contrast text is caught."""
    page = new_page()
    page.goto("/login")
    page.evaluate("""() => {
        document.querySelector('label').replaceWith(document.createElement('input'));
        document.querySelector('h1').style.color = '#eee';
    }""")
    found = " ".join(serious_violations(axe.run(page)))
    assert "label" in found and "color-contrast" in found, found


def test_a_question_is_answered_with_the_keyboard_alone(app, world, new_page, expect):  # noqa: F811
    """Tab to the estimate field, type, Enter: the prediction is recorded."""
    page = new_page()
    page.set_viewport_size(DESKTOP)
    log_in_browser(page, "scholar")
    page.goto(f"/puzzles/{LIVE}")
    field = page.locator("#q-mean").get_by_label("Your estimate")
    tab_to(page, field, "the estimate field")
    page.keyboard.type("0.5")
    page.keyboard.press("Enter")
    expect(page.locator("#q-mean p.current")).to_contain_text("Your prediction: 0.5")
