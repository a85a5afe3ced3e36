"""What a user does with the account forms, through the real pages (shared by the browser tests)."""
from __future__ import annotations

PASSWORD = "correct horse battery"  # the `auth` fixture's default password


def register(page, username: str, display_name: str, password: str = PASSWORD) -> None:
    page.goto("/register")
    page.get_by_label("Username", exact=True).fill(username)
    page.get_by_label("Display name (shown on leaderboards)").fill(display_name)
    page.get_by_label("Email", exact=True).fill(f"{username}@example.org")
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_label("Repeat password").fill(password)
    page.get_by_role("button", name="Register").click()
    page.get_by_role("status").filter(has_text="You are registered and logged in").wait_for()


def log_in(page, username: str, password: str = PASSWORD) -> None:
    page.goto("/login")
    page.get_by_label("Username", exact=True).fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Log in").click()
    # attached, not visible: on a phone it is inside the closed menu
    page.get_by_role("button", name="Log out", include_hidden=True).wait_for(state="attached")


def open_nav_link(page, name: str) -> None:
    """Follow a link of the main navigation, opening the "Menu" first on a phone."""
    page.wait_for_load_state("load")  # styled: until app.css applies, the button shows everywhere
    menu = page.locator("header.top .menu-toggle")
    if menu.is_visible() and menu.get_attribute("aria-expanded") == "false":
        menu.click()
    page.get_by_role("navigation", name="Main").get_by_role("link", name=name, exact=True).click()


def tab_to(page, target, what: str, limit: int = 200) -> None:
    """Press Tab until `target` (a locator) has the focus, as someone without a mouse would;
    the test fails, naming `what`, when it is not reached within `limit` presses."""
    import pytest

    for _ in range(limit):
        page.keyboard.press("Tab")
        if target.evaluate("el => el === document.activeElement"):
            return
    pytest.fail(f"{what} cannot be reached with Tab")
