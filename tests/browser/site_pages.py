"""Every HTML page each role can reach, for the whole-site browser checks (axe, narrow screens).

The list is built from the app's url_map, not by hand: every GET rule expanded with the
security suite's world (a puzzle in each state, cohorts, explanations, posts: see
tests/security/conftest.py), kept when the role gets a 200 HTML page. Rules that expand to
many URLs keep a few (a puzzle page in each state, not every question key of every puzzle),
so that a new page is checked as soon as its route exists, at a bounded cost.
"""
from __future__ import annotations

from collections import defaultdict

from flask import Flask
from werkzeug.exceptions import NotFound

from tests.browser.actions import log_in
from tests.security.conftest import PASSWORD, ROLE_USER, World, client_as, get_seeds

ROLES = ("anonymous", "scholar", "mentor", "admin")
PER_RULE = 2
PER_ENDPOINT = {"puzzles.show": 4}  # a puzzle page in each state: live, revealed, closed, upcoming
# Pages whose world values the generic expansion misses: the closed puzzle's grading queue
# (question key "explain") and the error page.
EXTRA = ("/mentor/puzzles/closed-puzzle/questions/explain/explanations", "/no-such-page")


def reachable_pages(app: Flask, world: World, role: str) -> list[str]:
    """The HTML pages `role` gets with a 200, at most PER_RULE per route."""
    client = client_as(app, role)
    adapter = app.url_map.bind("localhost")
    kept: dict[str, list[str]] = defaultdict(list)
    for url in [*get_seeds(app, world), *EXTRA]:
        try:
            endpoint, _ = adapter.match(url.split("?")[0], method="GET")
        except NotFound:
            endpoint = "error"
        if endpoint.startswith("api.") or len(kept[endpoint]) >= PER_ENDPOINT.get(endpoint, PER_RULE):
            continue
        resp = client.get(url)
        if resp.mimetype == "text/html" and (resp.status_code == 200 or endpoint == "error"):
            kept[endpoint].append(url)
    return [url for urls in kept.values() for url in urls]


def log_in_browser(page, role: str) -> None:
    """Log the browser page in as the role's world user through the real form."""
    if role != "anonymous":
        log_in(page, ROLE_USER[role], PASSWORD)
