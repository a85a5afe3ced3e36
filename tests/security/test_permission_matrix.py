"""Who may use what: anonymous, scholar, mentor and admin against every route of the app.

Each row is one request (a route with world values filled in) and the exact status each role
gets. Every cell starts from the same freshly built world (the database is restored between
cells), POSTs carry a valid CSRF token so that the matrix tests authorization rather than
CSRF, and API calls carry the role's bearer token. A meta-test walks the url_map: a route
that is not in the matrix (and not one of the few public, data-free endpoints) fails the
suite, so nobody can add a route without deciding who may use it.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable

import pytest
import sqlalchemy as sa

from tests.helpers import csrf_token
from tests.security.conftest import (LIVE, PASSWORD, ROLES, client_as, literal_question,
                                     restore_world)

# Public endpoints that hold no per-user data: static files, the bundled plotly.js, the
# health check, the Atom feed of released puzzles and the API's contract.
EXEMPT_ENDPOINTS = frozenset({"static", "vendor.plotly_js", "ops.healthz", "feed.atom",
                              "api.openapi_document"})

Data = dict | Callable[[object, dict], dict] | None


@dataclass(frozen=True)
class Case:
    """One request and the status for (anonymous, scholar, mentor, admin)."""

    method: str
    rule: str                       # the url_map rule it exercises
    url: str                        # formatted with World.params(role)
    expect: tuple[int, int, int, int]
    data: Data = None               # form fields (CSRF added) or, for the API, the JSON body
    api: bool = False

    def body(self, app, params: dict) -> dict:
        return (self.data(app, params) if callable(self.data) else self.data) or {}


def new_puzzle_form(app, params: dict) -> dict:
    """A valid authoring form for a new web puzzle (times in UTC)."""
    now = datetime.now(timezone.utc)
    fmt = "%Y-%m-%dT%H:%M"
    return {"number": "42", "slug": "brand-new", "title": "Brand new", "summary": "", "statement_md": "S",
            "answer_md": "A", "release_at": (now - timedelta(days=1)).strftime(fmt),
            "deadline_at": (now + timedelta(days=1)).strftime(fmt),
            "reveal_at": (now + timedelta(days=2)).strftime(fmt), "tz": "UTC",
            "spec_toml": literal_question(0.5)}


def edit_form(app, params: dict) -> dict:
    """The live puzzle's own authoring form with a new title."""
    from puzzle_platform.content.authoring import PuzzleForm
    from puzzle_platform.extensions import db
    from puzzle_platform.models import Puzzle

    with app.app_context():
        form = PuzzleForm.from_puzzle(db.session.scalar(sa.select(Puzzle).where(Puzzle.slug == LIVE)))
        return {**form.as_dict(), "title": "Edited title"}


R = (200, 200, 200, 200)          # everyone
LOGGED_IN = (401, 200, 200, 200)
MENTORS = (401, 403, 200, 200)
MENTOR_POST = (401, 403, 303, 303)
ADMINS = (401, 403, 403, 200)
ADMIN_POST = (401, 403, 403, 303)
HIDDEN_FROM_SCHOLARS = (404, 404, 200, 200)
P = "/puzzles/{live}"
M = "/mentor/puzzles/{live}"
C = "/mentor/puzzles/{closed}"
REGISTER = {"username": "newbie", "display_name": "Newbie", "email": "newbie@example.org",
            "password": "a long unusual passphrase", "confirm": "a long unusual passphrase"}

CASES: list[Case] = [
    # accounts
    Case("GET", "/login", "/login", R),
    Case("POST", "/login", "/login", (302, 302, 302, 302), {"username": "sam", "password": PASSWORD}),
    Case("GET", "/register", "/register", (200, 302, 302, 302)),   # logged in: no second account
    Case("POST", "/register", "/register", (302, 302, 302, 302), REGISTER),
    Case("POST", "/logout", "/logout", (401, 302, 302, 302)),
    # puzzles
    Case("GET", "/", "/", R),
    # the notebook client and its version: public, the same file for everyone
    Case("GET", "/client/mip_client.py", "/client/mip_client.py", R),
    Case("GET", "/client/version", "/client/version", R),
    Case("GET", "/puzzles/<slug>", P, R),
    Case("GET", "/puzzles/<slug>", "/puzzles/{future}", HIDDEN_FROM_SCHOLARS),
    Case("GET", "/puzzles/<slug>/progress.json", P + "/progress.json", R),
    Case("GET", "/puzzles/<slug>/progress.json", "/puzzles/{future}/progress.json", HIDDEN_FROM_SCHOLARS),
    # the reproduce-it-yourself notebook holds the truth: mentors only until the reveal
    Case("GET", "/puzzles/<slug>/figures/<figure_key>/notebook.ipynb", P + "/figures/fig/notebook.ipynb",
         HIDDEN_FROM_SCHOLARS),
    Case("GET", "/puzzles/<slug>/figures/<figure_key>/notebook.ipynb",
         "/puzzles/{revealed}/figures/fig/notebook.ipynb", R),
    Case("GET", "/puzzles/<slug>/figures/<figure_key>/notebook.ipynb",
         "/puzzles/{future}/figures/fig/notebook.ipynb", (404, 404, 404, 404)),  # no artifact
    Case("POST", "/puzzles/<slug>/questions/<key>", P + "/questions/mean", (401, 303, 303, 303),
         {"value": "0.3"}),
    Case("POST", "/puzzles/<slug>/questions/<key>", "/puzzles/{future}/questions/lit",
         (401, 404, 404, 404), {"value": "0.3"}),
    # explanations: the live preview; "helpful" on a featured explanation after the reveal only
    Case("POST", "/preview", "/preview", LOGGED_IN, {"markdown": "*hi*"}),
    Case("POST", "/puzzles/<slug>/questions/<key>/featured/<int:grade_id>/helpful",
         "/puzzles/{revealed}/questions/why/featured/{olga_old_grade}/helpful", (401, 303, 303, 303)),
    Case("POST", "/puzzles/<slug>/questions/<key>/featured/<int:grade_id>/helpful",
         P + "/questions/why/featured/{olga_live_grade}/helpful", (401, 404, 404, 404)),
    # discussion: sam solved a question of the live puzzle, none of the closed one
    Case("GET", "/puzzles/<slug>/discussion", P + "/discussion", LOGGED_IN),
    Case("GET", "/puzzles/<slug>/discussion", "/puzzles/{closed}/discussion", (401, 403, 200, 200)),
    Case("GET", "/puzzles/<slug>/discussion", "/puzzles/{revealed}/discussion", LOGGED_IN),
    Case("GET", "/puzzles/<slug>/discussion", "/puzzles/{future}/discussion", (401, 404, 200, 200)),
    Case("POST", "/puzzles/<slug>/discussion", P + "/discussion", (401, 303, 303, 303), {"body": "Hello."}),
    Case("POST", "/puzzles/<slug>/discussion", "/puzzles/{closed}/discussion", (401, 403, 303, 303),
         {"body": "Hello."}),
    Case("POST", "/puzzles/<slug>/discussion/posts/<int:post_id>/hide",
         P + "/discussion/posts/{post_visible}/hide", MENTOR_POST, {"reason": "spoiler"}),
    Case("POST", "/puzzles/<slug>/discussion/posts/<int:post_id>/unhide",
         P + "/discussion/posts/{post_hidden}/unhide", MENTOR_POST),
    # leaderboards: alpha is private and sam is not in it; beta is private and sam is
    Case("GET", "/leaderboard", "/leaderboard", R),
    Case("GET", "/leaderboard", "/leaderboard?puzzle={future}", HIDDEN_FROM_SCHOLARS),
    Case("GET", "/leaderboard", "/leaderboard?cohort={alpha}", (401, 403, 200, 200)),
    Case("GET", "/leaderboard", "/leaderboard?cohort={beta}", LOGGED_IN),
    Case("GET", "/leaderboard.json", "/leaderboard.json", R),
    Case("GET", "/leaderboard.json", "/leaderboard.json?cohort={alpha}", (401, 403, 200, 200)),
    Case("GET", "/leaderboard.csv", "/leaderboard.csv", MENTORS),
    Case("POST", "/leaderboard/visibility", "/leaderboard/visibility", ADMIN_POST, {"public": "0"}),
    # cohorts
    Case("GET", "/cohorts", "/cohorts", LOGGED_IN),
    Case("POST", "/cohorts", "/cohorts", MENTOR_POST, {"name": "Gamma", "slug": "gamma", "private": "1"}),
    Case("GET", "/cohorts/join", "/cohorts/join", (302, 302, 302, 302)),
    Case("POST", "/cohorts/join", "/cohorts/join", (401, 303, 403, 403), lambda app, p: {"code": p["alpha_code"]}),
    Case("GET", "/cohorts/join/<code>", "/cohorts/join/{alpha_code}", (302, 200, 200, 200)),
    Case("POST", "/cohorts/join/<code>", "/cohorts/join/{alpha_code}", (401, 303, 403, 403)),
    Case("GET", "/cohorts/<slug>", "/cohorts/{alpha}", MENTORS),
    Case("POST", "/cohorts/<slug>/code", "/cohorts/{alpha}/code", MENTOR_POST),
    Case("POST", "/cohorts/<slug>/visibility", "/cohorts/{alpha}/visibility", MENTOR_POST, {"private": "0"}),
    Case("POST", "/cohorts/<slug>/members/<int:user_id>/remove", "/cohorts/{alpha}/members/{cora}/remove",
         MENTOR_POST),
    # calibration: your own, or anyone's for mentors
    Case("GET", "/calibration", "/calibration", LOGGED_IN),
    Case("GET", "/calibration/<username>", "/calibration/olga", MENTORS),
    Case("GET", "/calibration/<username>", "/calibration/sam", MENTORS),
    Case("GET", "/cohorts/<slug>/calibration", "/cohorts/{alpha}/calibration", MENTORS),
    Case("GET", "/cohorts/<slug>/calibration", "/cohorts/{beta}/calibration", MENTORS),
    # profile: each acts on the caller's own account
    Case("GET", "/profile", "/profile", LOGGED_IN),
    Case("POST", "/profile/display-name", "/profile/display-name", (401, 303, 303, 303),
         {"display_name": "New Name"}),
    Case("POST", "/profile/feature-anonymously", "/profile/feature-anonymously", (401, 303, 303, 303),
         {"anonymous": "1"}),
    Case("POST", "/profile/notifications", "/profile/notifications", (401, 303, 303, 303),
         {"notify_live": "1", "notify_feedback": "1"}),
    Case("POST", "/profile/tokens", "/profile/tokens", (401, 201, 201, 201), {"name": "colab"}),
    Case("POST", "/profile/tokens/<int:token_id>/revoke", "/profile/tokens/{own_token}/revoke",
         (401, 303, 303, 303)),
    Case("POST", "/profile/tokens/<int:token_id>/revoke", "/profile/tokens/{mona_token}/revoke",
         (401, 404, 303, 404)),
    Case("POST", "/profile/password", "/profile/password", (401, 303, 303, 303),
         {"current_password": PASSWORD, "new_password": "a long unusual passphrase",
          "confirm": "a long unusual passphrase"}),
    Case("POST", "/profile/sessions/<int:session_id>/revoke", "/profile/sessions/{own_session}/revoke",
         (401, 303, 303, 303)),
    Case("POST", "/profile/sessions/<int:session_id>/revoke", "/profile/sessions/{mona_session}/revoke",
         (401, 404, 303, 404)),
    Case("POST", "/profile/sessions/revoke-all", "/profile/sessions/revoke-all", (401, 303, 303, 303)),
    # mentor area
    Case("GET", "/mentor", "/mentor", MENTORS),
    Case("POST", "/mentor/preview", "/mentor/preview", MENTORS, {"markdown": "*hi*"}),
    Case("GET", "/mentor/puzzles/new", "/mentor/puzzles/new", MENTORS),
    Case("POST", "/mentor/puzzles/new", "/mentor/puzzles/new", MENTOR_POST, new_puzzle_form),
    Case("GET", "/mentor/puzzles/<slug>", M, MENTORS),
    Case("GET", "/mentor/puzzles/<slug>", "/mentor/puzzles/{future}", MENTORS),
    Case("GET", "/mentor/puzzles/<slug>/edit", M + "/edit", MENTORS),
    Case("POST", "/mentor/puzzles/<slug>/edit", M + "/edit", MENTOR_POST, edit_form),
    Case("GET", "/mentor/puzzles/<slug>/preview", M + "/preview", MENTORS),
    Case("POST", "/mentor/puzzles/<slug>/compute", M + "/compute", MENTOR_POST),
    # without confirm=1: the confirmation page; with it, published (its truths are literals)
    Case("POST", "/mentor/puzzles/<slug>/publish", "/mentor/puzzles/{future}/publish", MENTORS),
    Case("POST", "/mentor/puzzles/<slug>/publish", "/mentor/puzzles/{future}/publish", MENTOR_POST,
         {"confirm": "1"}),
    # refused for mentors too: it is published and its folder exists (409, nothing deleted)
    Case("POST", "/mentor/puzzles/<slug>/delete", "/mentor/puzzles/{future}/delete", (401, 403, 409, 409),
         lambda app, params: {"confirm_slug": params["future"]}),
    Case("POST", "/mentor/puzzles/<slug>/unpublish", M + "/unpublish", MENTOR_POST),
    Case("POST", "/mentor/puzzles/<slug>/duplicate", M + "/duplicate", MENTOR_POST,
         {"number": "43", "slug": "copy-puzzle"}),
    Case("POST", "/mentor/puzzles/<slug>/export", M + "/export", ADMIN_POST),
    Case("GET", "/mentor/puzzles/<slug>/questions/<key>/submissions", M + "/questions/mean/submissions", MENTORS),
    Case("POST", "/mentor/puzzles/<slug>/questions/<key>/regrade", M + "/questions/mean/regrade", MENTOR_POST),
    Case("GET", "/mentor/puzzles/<slug>/submissions.csv", M + "/submissions.csv", MENTORS),
    Case("GET", "/mentor/puzzles/<slug>/answers", M + "/answers", MENTORS),
    Case("GET", "/mentor/puzzles/<slug>/answers", "/mentor/puzzles/{future}/answers", MENTORS),
    Case("GET", "/mentor/puzzles/<slug>/answers.csv", M + "/answers.csv", MENTORS),
    Case("POST", "/mentor/submissions/<int:submission_id>/override", "/mentor/submissions/{olga_override}/override",
         MENTOR_POST, {"points": "5", "reason": "checked by hand"}),
    Case("POST", "/mentor/submissions/<int:submission_id>/override/remove",
         "/mentor/submissions/{olga_override}/override/remove", MENTOR_POST),
    # explanations: the closed puzzle's grading queue (olga's answer graded, sam's not)
    Case("GET", "/mentor/puzzles/<slug>/questions/<key>/explanations", C + "/questions/explain/explanations",
         MENTORS),
    Case("POST", "/mentor/puzzles/<slug>/questions/<key>/explanations/next",
         C + "/questions/explain/explanations/next", MENTOR_POST),
    Case("GET", "/mentor/puzzles/<slug>/questions/<key>/explanations.csv",
         C + "/questions/explain/explanations.csv", MENTORS),
    Case("GET", "/mentor/explanations/<int:submission_id>", "/mentor/explanations/{expl_ungraded}", MENTORS),
    Case("GET", "/mentor/explanations/<int:submission_id>", "/mentor/explanations/{olga_override}",
         (401, 403, 404, 404)),  # an attempt, not an explanation
    Case("POST", "/mentor/explanations/<int:submission_id>", "/mentor/explanations/{expl_ungraded}",
         MENTOR_POST, {"items": "evidence", "comment": "Fine."}),
    Case("POST", "/mentor/explanations/<int:submission_id>/feature", "/mentor/explanations/{expl_graded}/feature",
         MENTOR_POST, {"on": "1"}),
    # admin area
    Case("GET", "/admin", "/admin", ADMINS),
    Case("GET", "/admin", "/admin?q=o&page=2", ADMINS),
    Case("POST", "/admin/users/<int:user_id>/role", "/admin/users/{cora}/role", ADMIN_POST, {"role": "mentor"}),
    Case("POST", "/admin/users/<int:user_id>/role", "/admin/users/{mona}/role", ADMIN_POST, {"role": "admin"}),
    Case("POST", "/admin/settings", "/admin/settings", ADMIN_POST, {"public": "0"}),
    Case("POST", "/admin/models", "/admin/models", ADMIN_POST, {"models": "EleutherAI/pythia-70m"}),
    # API (bearer tokens; anonymous sends none)
    Case("GET", "/api/v1/me", "/api/v1/me", LOGGED_IN, api=True),
    Case("GET", "/api/v1/me/submissions", "/api/v1/me/submissions", LOGGED_IN, api=True),
    Case("GET", "/api/v1/puzzles", "/api/v1/puzzles", LOGGED_IN, api=True),
    Case("GET", "/api/v1/puzzles/<slug>", "/api/v1/puzzles/{live}", LOGGED_IN, api=True),
    Case("GET", "/api/v1/puzzles/<slug>", "/api/v1/puzzles/{future}", (401, 404, 200, 200), api=True),
    Case("POST", "/api/v1/puzzles/<slug>/questions/<key>/submissions",
         "/api/v1/puzzles/{live}/questions/mean/submissions", (401, 202, 202, 202), {"value": 0.3}, api=True),
    Case("POST", "/api/v1/puzzles/<slug>/questions/<key>/submissions",
         "/api/v1/puzzles/{future}/questions/lit/submissions", (401, 404, 404, 404), {"value": 0.3}, api=True),
    Case("GET", "/api/v1/puzzles/<slug>/questions/<key>/explanation",
         "/api/v1/puzzles/{live}/questions/why/explanation", LOGGED_IN, api=True),
    Case("GET", "/api/v1/puzzles/<slug>/questions/<key>/explanation",
         "/api/v1/puzzles/{live}/questions/mean/explanation", (401, 404, 404, 404), api=True),
    Case("GET", "/api/v1/puzzles/<slug>/questions/<key>/explanation",
         "/api/v1/puzzles/{future}/questions/lit/explanation", (401, 404, 404, 404), api=True),
    Case("GET", "/api/v1/leaderboard", "/api/v1/leaderboard", LOGGED_IN, api=True),
    Case("GET", "/api/v1/leaderboard", "/api/v1/leaderboard?cohort={alpha}", (401, 403, 200, 200), api=True),
    Case("GET", "/api/v1/openapi.json", "/api/v1/openapi.json", R, api=True),
    # the browser's icon probe: public, no data
    Case("GET", "/favicon.ico", "/favicon.ico", R),
]


def send(client, app, world, case: Case, role: str, token: str | None):
    params = world.params(role)
    url = case.url.format(**params)
    if case.api:
        headers = world.bearer(role)
        if case.method == "GET":
            return client.get(url, headers=headers)
        return client.post(url, json=case.body(app, params), headers=headers)
    if case.method == "GET":
        return client.get(url)
    return client.post(url, data={"csrf_token": token, **case.body(app, params)})


@pytest.mark.parametrize("case", CASES, ids=[f"{c.method} {c.url}" for c in CASES])
def test_matrix_row(app, world, case: Case):
    """Each role in turn, each from the world as built (and logged in after the restore: a
    login is a row of the database)."""
    needs_token = case.method == "POST" and not case.api
    got = {}
    for role in ROLES:
        restore_world(app, world)
        client = client_as(app, role)
        token = csrf_token(client, "/login") if needs_token else None
        got[role] = send(client, app, world, case, role, token).status_code
    assert got == dict(zip(ROLES, case.expect)), f"{case.method} {case.url}"


def routes_missing_from_matrix(app, cases: list[Case]) -> list[str]:
    """Every (method, rule) of the app that no case exercises, exempt endpoints aside."""
    covered = {(c.method, c.rule) for c in cases}
    missing = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in EXEMPT_ENDPOINTS:
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            if (method, rule.rule) not in covered:
                missing.append(f"{method} {rule.rule} ({rule.endpoint})")
    return missing


def test_every_route_is_in_the_matrix(app):
    assert routes_missing_from_matrix(app, CASES) == [], (
        "routes nobody has decided the permissions of: add them to CASES")


def test_a_new_route_fails_the_meta_test(app):
    """The meta-test is not vacuous: a route added to the app shows up as missing."""
    app.add_url_rule("/mentor/danger", "danger", lambda: "", methods=["GET", "POST"])
    assert routes_missing_from_matrix(app, CASES) == ["GET /mentor/danger (danger)",
                                                      "POST /mentor/danger (danger)"]


def test_each_case_exercises_the_rule_it_names(app, world):
    """A case's URL really routes to its rule (a typo would test some other route)."""
    rules = {(m, r.rule): r.endpoint for r in app.url_map.iter_rules() for m in r.methods or ()}
    adapter = app.url_map.bind("localhost")
    for case in CASES:
        assert (case.method, case.rule) in rules, f"{case.method} {case.rule} is not a rule of the app"
        path = case.url.format(**world.params("scholar")).split("?")[0]
        endpoint, _ = adapter.match(path, method=case.method)
        assert endpoint == rules[case.method, case.rule], f"{case.method} {case.url} routes to {endpoint}"
