"""CSRF: every POST route that a browser session can reach refuses a request without the
form's token (400, and nothing in the database or the puzzles folder changes), and every
POST form on every page carries the token.

The API is left out on purpose: it reads no cookies, only bearer tokens, which a forged
cross-site request cannot carry.
"""
from __future__ import annotations

import hashlib
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import pytest
import sqlalchemy as sa

from puzzle_platform import create_app
from tests.helpers import csrf_token
from tests.security.conftest import CLOSED, LIVE, client_as, crawl, get_seeds, restore_world

CSRF_MESSAGE = "security token is missing or expired"


def post_routes(app) -> list[tuple[str, str, tuple[str, ...]]]:
    """(rule, endpoint, argument names) of every POST route outside the API blueprint."""
    return sorted((r.rule, r.endpoint, tuple(sorted(r.arguments))) for r in app.url_map.iter_rules()
                  if "POST" in (r.methods or ()) and not r.endpoint.startswith("api."))


def route_args(rule: str, world) -> dict[str, object]:
    """World values for a rule's arguments: a request an admin is allowed to make."""
    explain = "/explanations" in rule  # the closed puzzle's explanation question
    return {"slug": "alpha" if rule.startswith("/cohorts/") else (CLOSED if explain else LIVE),
            "key": "explain" if explain else "mean",
            "code": world.codes["alpha"], "user_id": world.users["cora"], "post_id": world.posts["visible"],
            "submission_id": world.subs.get("expl_graded", 0) if explain else world.subs["olga_override"],
            "token_id": world.token_ids["mona"], "session_id": world.sessions["mona"],
            "grade_id": world.grades["olga_old"]}


# Enough fields that each POST would be accepted with a token (see the control below).
FIELDS = {"username": "mona", "password": "correct horse battery", "display_name": "X", "name": "Gamma",
          "slug": "gamma", "number": "44", "reason": "r", "points": "5", "body": "hello", "value": "0.3",
          "code": "x", "public": "0", "private": "0", "markdown": "*x*", "role": "mentor",
          "models": "EleutherAI/pythia-70m", "current_password": "correct horse battery",
          "new_password": "a long unusual passphrase", "confirm": "a long unusual passphrase"}


def snapshot(app) -> dict[str, object]:
    """Every row of every table, and every file under the puzzles folder."""
    from puzzle_platform.extensions import db

    with app.app_context():
        rows = {t.name: sorted(map(repr, db.session.execute(sa.select(t)).all()))
                for t in db.metadata.sorted_tables}
    root = Path(app.config["PUZZLES_DIR"])
    files = {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
             for p in sorted(root.rglob("*")) if p.is_file()}
    return {"rows": rows, "files": files}


def routing_app():
    """An app for reading the url_map at collection time (no database is touched)."""
    return create_app({"SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": "sqlite://",
                       "INSTANCE_PATH": tempfile.mkdtemp(prefix="csrf-routes-")})


ROUTES = post_routes(routing_app())


def test_there_are_post_routes_to_check():
    """The walk below is not vacuous (and the API stays out of it)."""
    assert len(ROUTES) >= 25 and ("/logout", "accounts.logout", ()) in ROUTES
    assert not any(rule.startswith("/api/") for rule, _, _ in ROUTES)


@pytest.mark.parametrize("rule, endpoint, arguments", ROUTES, ids=[rule for rule, _, _ in ROUTES])
def test_post_without_token_is_refused_and_changes_nothing(app, world, rule, endpoint, arguments):
    client = client_as(app, "admin")  # admins may make every request, so the control below means it
    values = route_args(rule, world)
    url = app.url_map.bind("localhost").build(endpoint, {k: values[k] for k in arguments}, method="POST")
    before = snapshot(app)
    for body in ({"data": FIELDS}, {"json": {"markdown": "*x*"}}):
        resp = client.post(url, **body)
        assert resp.status_code == 400, f"POST {url} {list(body)}: {resp.status_code}"
        assert CSRF_MESSAGE in resp.get_data(as_text=True)
    stranger = csrf_token(app.test_client(), "/login")  # a valid token of another session
    resp = client.post(url, data={"csrf_token": stranger, **FIELDS})
    assert resp.status_code == 400 and CSRF_MESSAGE in resp.get_data(as_text=True)
    assert snapshot(app) == before
    # Control: the same request with this session's token gets past the CSRF check (logged
    # in again: the restored world does not hold the login made above).
    restore_world(app, world)
    client = client_as(app, "mentor")
    resp = client.post(url, data={"csrf_token": csrf_token(client, "/login"), **FIELDS})
    assert CSRF_MESSAGE not in resp.get_data(as_text=True), f"POST {url} refused with a token"


class _Forms(HTMLParser):
    """Each <form method="post"> and whether it holds a non-empty hidden csrf_token input."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[dict] = []
        self._open: dict | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self._open = {"action": a.get("action") or "(this page)",
                          "post": (a.get("method") or "get").lower() == "post", "token": False}
            self.forms.append(self._open)
        elif tag == "input" and self._open is not None and a.get("name") == "csrf_token":
            self._open["token"] = a.get("type") == "hidden" and bool(a.get("value"))

    def handle_endtag(self, tag):
        if tag == "form":
            self._open = None


def test_every_post_form_on_every_page_carries_the_token(app, world):
    """Crawl as each role (each sees different forms) and check every POST form."""
    missing, actions = [], set()
    for role in ("admin", "mentor", "scholar", "anonymous"):
        pages = crawl(client_as(app, role), get_seeds(app, world), world.bearer(role))
        for page in pages.values():
            if "html" not in page.content_type:
                continue
            parser = _Forms()
            parser.feed(page.body)
            for form in parser.forms:
                if form["post"]:
                    actions.add(form["action"].split("?")[0])
                    if not form["token"]:
                        missing.append(f"{role} {page.url}: form to {form['action']}")
    assert missing == []
    # The check saw the forms of every area, not just the log-out button.
    for expected in ("/logout", "(this page)", f"/puzzles/{LIVE}/questions/mean", "/cohorts",
                     "/cohorts/join", f"/cohorts/join/{world.codes['alpha']}", "/profile/tokens",
                     "/profile/notifications", "/profile/password", "/profile/sessions/revoke-all",
                     f"/profile/sessions/{world.sessions['mona']}/revoke",
                     "/leaderboard/visibility", f"/mentor/puzzles/{LIVE}/unpublish",
                     f"/puzzles/{LIVE}/discussion", f"/mentor/submissions/{world.subs['olga_override']}/override",
                     f"/mentor/puzzles/{LIVE}/export", "/admin/settings", "/admin/models",
                     f"/admin/users/{world.users['cora']}/role",
                     *explanation_forms(world)):
        assert expected in actions, expected
    assert len(actions) >= 25


def explanation_forms(world) -> list[str]:
    """The grading queue's forms, once the world has an explanation question."""
    if "expl_graded" not in world.subs:
        return []
    graded = world.subs["expl_graded"]
    return [f"/mentor/puzzles/{CLOSED}/questions/explain/explanations/next", f"/mentor/explanations/{graded}",
            f"/mentor/explanations/{graded}/feature"]


def test_the_form_check_sees_a_missing_token():
    parser = _Forms()
    parser.feed('<form method="post" action="/a"><input type="hidden" name="csrf_token" value=""></form>'
                '<form method="POST" action="/b"><input name="x"></form><form action="/c"></form>'
                '<form method="post" action="/d"><input type="hidden" name="csrf_token" value="t"></form>')
    assert [(f["action"], f["post"], f["token"]) for f in parser.forms] == [
        ("/a", True, False), ("/b", True, False), ("/c", False, False), ("/d", True, True)]
