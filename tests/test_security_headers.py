"""Security headers and CSP on every response; no inline executable script on any page;
session cookie flags; session rotation on login."""
from html.parser import HTMLParser

import pytest

from puzzle_platform.security import CONTENT_SECURITY_POLICY
from tests.helpers import add_artifact, csrf_token, make_app, write_puzzle


def _csp(response) -> dict[str, list[str]]:
    directives = [d.split() for d in response.headers["Content-Security-Policy"].split(";") if d.strip()]
    return {d[0]: d[1:] for d in directives}


def _assert_hardened(response) -> None:
    csp = _csp(response)
    assert csp["script-src"] == ["'self'"]  # no 'unsafe-inline', no 'unsafe-eval'
    assert "'unsafe-eval'" not in response.headers["Content-Security-Policy"]
    assert csp["frame-ancestors"] == ["'none'"] and csp["object-src"] == ["'none'"]
    assert csp["default-src"] == ["'self'"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["X-Frame-Options"] == "DENY"


@pytest.mark.parametrize("path,mimetype,status", [
    ("/", "text/html", 200),
    ("/login", "text/html", 200),
    ("/leaderboard.json", "application/json", 200),
    ("/healthz", "application/json", 200),
    ("/puzzles/no-such-puzzle", "text/html", 404),
    ("/api/no-such-endpoint", "application/json", 404),
    ("/static/app.js", "text/javascript", 200),
])
def test_headers_on_html_json_static_and_error_responses(client, path, mimetype, status):
    r = client.get(path)
    assert r.status_code == status and r.mimetype == mimetype
    _assert_hardened(r)
    assert "Strict-Transport-Security" not in r.headers  # plain http in the embedded default


class _ScriptAudit(HTMLParser):
    """Collects every <script> and every inline event handler / javascript: URL on a page."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[dict] = []
        self.handlers: list[str] = []
        self._current: dict | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.handlers += [f"{tag} {k}" for k in attrs if k.startswith("on")]
        self.handlers += [f"{tag} {k}" for k, v in attrs.items()
                          if v and v.strip().lower().startswith("javascript:")]
        if tag == "script":
            self._current = {"attrs": attrs, "body": ""}
            self.scripts.append(self._current)

    def handle_data(self, data):
        if self._current is not None:
            self._current["body"] += data

    def handle_endtag(self, tag):
        if tag == "script":
            self._current = None


def _assert_no_inline_code(html: str) -> list[dict]:
    audit = _ScriptAudit()
    audit.feed(html)
    assert audit.handlers == []
    for script in audit.scripts:
        src, kind = script["attrs"].get("src"), script["attrs"].get("type")
        if kind == "application/json":  # data, never executed: allowed under the CSP
            assert src is None
            continue
        assert kind in (None, "text/javascript", "module"), script
        assert src and src.startswith("/") and not src.startswith("//"), f"inline script: {script}"
        assert script["body"].strip() == "", f"code inside a src script: {script}"
    return audit.scripts


def test_plotly_page_has_no_inline_executable_script(app, client, auth, puzzles_dir, sync):
    write_puzzle(puzzles_dir)
    sync()
    add_artifact(app, "test-puzzle", "fig", {"mean_cos": 0.3})
    auth.create_user("mentor1", role="mentor")
    for who in (None, "mentor1"):
        if who:
            auth.login(who)
        r = client.get("/puzzles/test-puzzle")
        assert r.status_code == 200
        _assert_hardened(r)
        scripts = _assert_no_inline_code(r.get_data(as_text=True))
        assert any(s["attrs"].get("type") == "application/json" for s in scripts)  # the figure data
        srcs = [s["attrs"]["src"] for s in scripts if s["attrs"].get("src")]
        assert "/vendor/plotly.min.js" in srcs
        for src in srcs:  # every script is same-origin, served here, as JavaScript
            js = client.get(src)
            assert js.status_code == 200 and js.mimetype == "text/javascript"


def test_other_pages_have_no_inline_executable_script(client, auth, puzzles_dir, sync):
    write_puzzle(puzzles_dir)
    sync()
    for path in ("/", "/login", "/register", "/leaderboard"):
        _assert_no_inline_code(client.get(path).get_data(as_text=True))
    auth.register("ada")
    for path in ("/", "/puzzles/test-puzzle", "/leaderboard"):
        _assert_no_inline_code(client.get(path).get_data(as_text=True))


def test_figure_data_cannot_close_its_script_block(app, client, puzzles_dir, sync):
    write_puzzle(puzzles_dir)
    sync()
    add_artifact(app, "test-puzzle", "fig", {"mean_cos": 0.3},
                 figure={"data": [], "layout": {"title": {"text": "</script><script>alert(1)</script>"}}})
    html = client.get("/puzzles/test-puzzle").get_data(as_text=True)
    assert "<script>alert(1)" not in html
    _assert_no_inline_code(html)


def _cookie_attrs(response, name: str = "session") -> list[str]:
    cookies = [c for c in response.headers.getlist("Set-Cookie") if c.startswith(f"{name}=")]
    assert cookies, f"no {name} cookie set"
    return [part.strip().lower() for part in cookies[-1].split(";")[1:]]


def test_cookie_flags_outside_production(client):
    attrs = _cookie_attrs(client.get("/login"))  # the CSRF token lives in the session
    assert "httponly" in attrs and "samesite=lax" in attrs and "secure" not in attrs


@pytest.mark.parametrize("flag", ["1", True])
def test_production_secure_cookies_and_hsts(tmp_path, template_db, flag):
    app = make_app(tmp_path, template_db, PUZZLES_PRODUCTION=flag)
    assert app.config["SESSION_COOKIE_SECURE"] is True and app.config["REMEMBER_COOKIE_SECURE"] is True
    client = app.test_client()
    r = client.get("/login", base_url="https://puzzles.example")
    attrs = _cookie_attrs(r)
    assert "secure" in attrs and "httponly" in attrs and "samesite=lax" in attrs
    assert r.headers["Strict-Transport-Security"] == "max-age=31536000"
    _assert_hardened(r)
    assert "Strict-Transport-Security" in client.get("/healthz", base_url="https://puzzles.example").headers


def test_csp_constant_is_what_is_sent(client):
    assert client.get("/").headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY


def test_login_rotates_the_session(app, client, auth):
    auth.create_user("ada")
    token_before = csrf_token(client)
    with client.session_transaction() as sess:
        sess["planted"] = "attacker-chosen"
    cookie_before = client.get_cookie("session").value
    r = auth.login("ada")
    assert r.status_code == 302
    cookie_after = client.get_cookie("session").value
    assert cookie_after != cookie_before
    with client.session_transaction() as sess:
        assert "planted" not in sess and "_user_id" in sess
        assert sess.get("csrf_token") is None  # the pre-login token is gone
    # A form posted with the token from before the login is refused ...
    r = client.post("/logout", data={"csrf_token": token_before})
    assert r.status_code == 400
    # ... and a fresh page hands out a new one that works.
    token_after = csrf_token(client, "/")
    assert token_after != token_before
    assert client.post("/logout", data={"csrf_token": token_after}).status_code == 302


def test_registration_also_starts_a_fresh_session(client, auth):
    csrf_token(client, "/register")
    with client.session_transaction() as sess:
        sess["planted"] = "attacker-chosen"
    assert auth.register("bea").status_code == 302
    with client.session_transaction() as sess:
        assert "planted" not in sess and "_user_id" in sess


def test_a_nul_byte_in_a_path_or_query_is_404_not_500(client):
    for url in ("/puzzles/te%00st", "/api/v1/puzzles/x%00/questions/q/submissions", "/leaderboard.json?puzzle=a%00b"):
        resp = client.get(url) if "submissions" not in url else client.post(url, json={"value": 1})
        assert resp.status_code == 404, url
