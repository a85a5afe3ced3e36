"""Phones: at 360 px wide no page scrolls sideways (the same route-built page list as the
accessibility check), and the navigation collapses behind a "Menu" button that works with the
keyboard and says whether it is open (aria-expanded); without script the links wrap."""
from __future__ import annotations

import pytest

from tests.browser.site_pages import ROLES, log_in_browser, reachable_pages
from tests.security.conftest import app, world  # noqa: F401 (the security world as `app`)

pytestmark = pytest.mark.browser

PHONE = {"width": 360, "height": 740}
OVERFLOW = "document.documentElement.scrollWidth - window.innerWidth"


@pytest.mark.parametrize("role", ROLES)
def test_no_page_scrolls_sideways_at_360_px(role, app, world, new_page, page_log):  # noqa: F811
    pages = reachable_pages(app, world, role)
    page = new_page()
    page.set_viewport_size(PHONE)
    log_in_browser(page, role)
    wide = {}
    for url in pages:
        page.goto(url)
        page.wait_for_load_state("load")  # the figures are drawn on load
        extra = page.evaluate(OVERFLOW)
        if extra > 0:
            wide[url] = extra
    assert wide == {}, f"pages wider than {PHONE['width']} px (extra px): {wide}"
    assert page_log.errors == [], page_log.errors


def test_the_overflow_check_is_not_vacuous(new_page, live_server):
    page = new_page()
    page.set_viewport_size(PHONE)
    page.goto("/login")
    assert page.evaluate(OVERFLOW) <= 0
    page.evaluate("document.querySelector('main').append(Object.assign(document.createElement('pre'), "
                  "{textContent: 'x'.repeat(400)}))")
    assert page.evaluate(OVERFLOW) <= 0  # a long <pre> scrolls inside itself
    page.evaluate("document.querySelector('main').append(Object.assign(document.createElement('img'), "
                  "{width: 900, height: 10, className: 'wide'}))")
    page.evaluate("document.querySelector('img.wide').style.maxWidth = 'none'")
    assert page.evaluate(OVERFLOW) > 0


def test_the_menu_collapses_and_opens_with_the_keyboard(app, world, new_page, expect):  # noqa: F811
    page = new_page()
    page.set_viewport_size(PHONE)
    log_in_browser(page, "mentor")
    page.goto("/")
    menu = page.get_by_role("button", name="Menu")
    nav = page.get_by_role("navigation", name="Main")
    expect(menu).to_have_attribute("aria-expanded", "false")
    expect(nav).to_be_hidden()
    menu.focus()
    page.keyboard.press("Enter")
    expect(menu).to_have_attribute("aria-expanded", "true")
    expect(nav.get_by_role("link", name="Profile")).to_be_visible()
    page.keyboard.press("Tab")  # the first link of the open menu
    assert page.evaluate("document.activeElement.textContent") == "Puzzles"
    page.keyboard.press("Escape")
    expect(menu).to_have_attribute("aria-expanded", "false")
    expect(nav).to_be_hidden()
    expect(menu).to_be_focused()
    page.keyboard.press("Space")
    nav.get_by_role("link", name="Mentor").click()
    expect(page).to_have_url(f"{page.url.split('/', 3)[0]}//{page.url.split('/', 3)[2]}/mentor")

    page.set_viewport_size({"width": 1280, "height": 800})  # desktop: no button, links shown
    expect(menu).to_be_hidden()
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Profile")).to_be_visible()


def test_without_script_the_navigation_wraps(browser, live_server):
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False, viewport=PHONE)
    try:
        page = context.new_page()
        page.goto("/")
        assert page.get_by_role("button", name="Menu").is_hidden()
        for name in ("Puzzles", "Leaderboard", "Log in", "Register"):
            assert page.get_by_role("navigation").get_by_role("link", name=name).is_visible()
        assert page.evaluate(OVERFLOW) <= 0
    finally:
        context.close()
