"""The security suite's world and tools.

One richly populated world (every role, a puzzle in each state, artifacts, cohorts, posts,
attempts, an override, API tokens) is built once per session into a template database and
copied for every test, so each test starts from the same fresh state without paying for
the build (the `app` fixture below overrides the root one). Passwords use a cheap hash: the
suite logs in hundreds of times and password hashing is not what it tests.

Also here, shared by the secrecy crawl and the CSRF checks: logging a role in through the
real form, expanding every GET rule of the url_map with the world's values, and a bounded
breadth-first crawl that follows same-site links.
"""
from __future__ import annotations

import itertools
import shutil
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from freezegun import freeze_time
from werkzeug.security import generate_password_hash

from puzzle_platform import create_app
from tests.explanation_fixtures import add_explanation_question, add_version
from tests.helpers import (add_artifact, choice_question, csrf_token, mean_question, question_toml, text_question,
                           write_puzzle)

PASSWORD = "correct horse battery"
FAST_HASH = "pbkdf2:sha256:1000"
ROLES = ("anonymous", "scholar", "mentor", "admin")
ROLE_USER = {"scholar": "sam", "mentor": "mona", "admin": "adam"}

LIVE, REVEALED, CLOSED, FUTURE = "live-puzzle", "old-puzzle", "closed-puzzle", "future-puzzle"
PUZZLE_SLUGS = (LIVE, REVEALED, CLOSED, FUTURE)
COHORT_SLUGS = ("alpha", "beta")  # alpha: olga + cora; beta: sam. Both private boards.
QUESTION_KEYS = ("mean", "word", "pick", "lit", "why")
USERNAMES = ("sam", "olga", "cora", "mona", "adam")

# Distinctive values, so that a leak shows up verbatim in a response body.
LIVE_STATS = {"mean_cos": 0.8137294, "std_cos": 0.1529374, "mean_norm": 3.5172849}
LIVE_LITERAL = 0.6391827
LIVE_TEXT_TRUTH = "Zebra-Truth-Word-9921"
CLOSED_LITERAL = 0.2718364
FUTURE_LITERAL = 0.9182736
LIVE_ANSWER = "ANSWER-MARKER-LIVE-5521"
CLOSED_ANSWER = "ANSWER-MARKER-CLOSED-8812"
FUTURE_ANSWER = "ANSWER-MARKER-FUTURE-3307"
FUTURE_TITLE = "FUTURE-TITLE-MARKER-3301"
FUTURE_STATEMENT = "FUTURE-STATEMENT-MARKER-3302"
OLGA_DISPLAY = "Olga-Display-7731"
OLGA_LIVE = {"value": 0.4268153, "lower": 0.3015927, "upper": 0.5519276}
OLGA_TEXT = "Olga-Text-Answer-4412"
OLGA_CLOSED_VALUE = 0.3356127
OLGA_OVERRIDE_REASON = "OVERRIDE-REASON-6620"
SAM_TEXT = "Sam-Text-Answer-1187"
HIDDEN_POST = "HIDDEN-POST-BODY-2290"
HIDE_REASON = "HIDE-REASON-4471"
# Explanations ("why" on the live and the revealed puzzle): graded already, olga's featured.
OLGA_EXPLANATION = "Olga-Explanation-3391"
CORA_EXPLANATION = "Cora-Explanation-3392"
SAM_EXPLANATION = "Sam-Explanation-3393"
OLD_FEATURED = "Old-Featured-Explanation-3394"
EX_COMMENTS = {"olga": "Olga-Ex-Comment-5501", "cora": "Cora-Ex-Comment-5502", "sam": "Sam-Ex-Comment-5503"}
LIVE_RUBRIC = (("core", "Live-Rubric-Core-6601", 6.0), ("slip", "Live-Rubric-Slip-6602", -2.0))
# The closed puzzle's explanation question (rows inserted: tests/explanation_fixtures.py).
CLOSED_EXPLANATION = "Olga-Explanation-5581"
EXPLANATION_COMMENT = "EXPLANATION-COMMENT-6093"


def literal_question(truth: float, prompt: str = "A number.", mode: str = "forecast") -> str:
    """The "lit" question: a number with a literal truth, graded within 0.01."""
    return question_toml("lit", prompt, kind="numeric", mode=mode, grader="abs_tol",
                         grader_params={"tolerance": 0.01}, truth=truth)


LIVE_QUESTIONS = (mean_question() + text_question(LIVE_TEXT_TRUTH, prompt="Name the word.") + choice_question()
                  + literal_question(LIVE_LITERAL, prompt="A number with a literal truth.", mode="challenge"))


def frozen(at: datetime):
    """freeze_time (the ML packages are ignored globally: see tests/conftest.py)."""
    return freeze_time(at)


@dataclass
class World:
    """Where the template lives and the ids and secrets a test needs to address its rows."""

    db_path: Path
    puzzles_dir: Path
    users: dict[str, int] = field(default_factory=dict)
    emails: dict[str, str] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)       # username -> plain token
    token_ids: dict[str, int] = field(default_factory=dict)
    token_prefixes: dict[str, str] = field(default_factory=dict)
    codes: dict[str, str] = field(default_factory=dict)        # cohort slug -> invite code
    posts: dict[str, int] = field(default_factory=dict)        # visible, hidden, old
    subs: dict[str, int] = field(default_factory=dict)
    grades: dict[str, int] = field(default_factory=dict)       # explanation grades: olga_live, olga_old
    sessions: dict[str, int] = field(default_factory=dict)     # username -> a login on another browser

    def params(self, role: str = "anonymous") -> dict[str, object]:
        """Names for URL templates such as "/cohorts/{alpha}/members/{cora}/remove"."""
        own = ROLE_USER.get(role, "sam")
        return {
            "live": LIVE, "revealed": REVEALED, "closed": CLOSED, "future": FUTURE,
            "alpha": "alpha", "beta": "beta", "alpha_code": self.codes["alpha"],
            "beta_code": self.codes["beta"], **self.users,
            "own_token": self.token_ids[own], "mona_token": self.token_ids["mona"],
            "post_visible": self.posts["visible"], "post_hidden": self.posts["hidden"],
            "olga_override": self.subs["olga_override"],
            "olga_live_grade": self.grades["olga_live"], "olga_old_grade": self.grades["olga_old"],
            "expl_graded": self.subs.get("expl_graded", 0), "expl_ungraded": self.subs.get("expl_ungraded", 0),
            "own_session": self.sessions[own], "mona_session": self.sessions["mona"],
        }

    def bearer(self, role: str) -> dict[str, str]:
        """The Authorization header of the role's API token (none for anonymous)."""
        if role == "anonymous":
            return {}
        return {"Authorization": f"Bearer {self.tokens[ROLE_USER[role]]}"}


def _config(folder: Path, db_path: Path, puzzles: Path) -> dict:
    return {"TESTING": True, "SECRET_KEY": "test-secret", "INSTANCE_PATH": str(folder / "instance"),
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{db_path}", "PUZZLES_DIR": str(puzzles),
            "WRONG_ANSWER_WAITS": (60, 300, 600)}


def _write_puzzles(root: Path) -> None:
    write_puzzle(root, 1, LIVE, state="live", questions=LIVE_QUESTIONS, answer=LIVE_ANSWER)
    write_puzzle(root, 2, REVEALED, state="revealed", answer="The old answer.")
    write_puzzle(root, 3, CLOSED, state="closed", figures="", questions=literal_question(CLOSED_LITERAL),
                 answer=CLOSED_ANSWER)
    future = write_puzzle(root, 4, FUTURE, state="upcoming", figures="", title=FUTURE_TITLE,
                          questions=literal_question(FUTURE_LITERAL), answer=FUTURE_ANSWER)
    (future / "statement.md").write_text(FUTURE_STATEMENT + "\n")


def _populate(app: Flask, world: World) -> None:
    """Users, tokens, cohorts, attempts, an override and posts, through the services."""
    from puzzle_platform.community import cohorts, discussion
    from puzzle_platform.grading import overrides as grade_control
    from puzzle_platform.extensions import db
    from puzzle_platform.grading.submissions import submit
    from puzzle_platform.models import ApiToken, Puzzle, Submission, User, UserSession

    build_now = datetime.now(timezone.utc)
    with app.app_context():
        people = {}
        for name, role, display in (("sam", "scholar", "Sam"), ("olga", "scholar", OLGA_DISPLAY),
                                    ("cora", "scholar", "Cora"), ("mona", "mentor", "Mona"),
                                    ("adam", "admin", "Adam")):
            user = User(username=name, email=f"{name}.mail@example.org", role=role, display_name=display,
                        password_hash=generate_password_hash(PASSWORD, method=FAST_HASH))
            db.session.add(user)
            people[name] = user
        db.session.flush()
        for name, user in people.items():
            token, plain = ApiToken.issue(user, "notebook")
            db.session.flush()
            world.tokens[name], world.token_ids[name], world.token_prefixes[name] = plain, token.id, token.prefix
            world.users[name], world.emails[name] = user.id, user.email
            other = UserSession(user_id=user.id, token_hash=f"{name}-other-browser".ljust(64, "0"),
                                created_at=build_now, last_seen_at=build_now,
                                expires_at=build_now + timedelta(days=30), user_agent="Another browser")
            db.session.add(other)
            db.session.flush()
            world.sessions[name] = other.id
        db.session.commit()

        mona = people["mona"]
        for slug, members in (("alpha", ("olga", "cora")), ("beta", ("sam",))):
            cohort = cohorts.create(f"{slug.title()} cohort", slug, True, mona)
            for name in members:
                cohorts.join(cohort, people[name])
            world.codes[slug] = cohort.invite_code

        puzzles = {p.slug: p for p in db.session.scalars(sa.select(Puzzle))}
        # While the revealed and closed puzzles were still live (their schedules were written
        # relative to build_now): interval answers for calibration, Olga's closed-puzzle value.
        with frozen(build_now - timedelta(days=2, hours=12)):
            for name, answer in (("sam", {"value": "0.45", "lower": "0.40", "upper": "0.50"}),
                                 ("olga", {"value": "0.52", "lower": "0.50", "upper": "0.60"})):
                assert submit(people[name], REVEALED, "mean", answer).status == 202  # a forecast
            assert submit(people["olga"], CLOSED, "lit", {"value": str(OLGA_CLOSED_VALUE)}).status == 202
        live = puzzles[LIVE]
        outcome = submit(people["olga"], LIVE, "mean", {k: str(v) for k, v in OLGA_LIVE.items()})
        assert outcome.status == 202  # a forecast, scored at the reveal
        world.subs["olga_live_mean"] = outcome.submission.id
        for name, key, answer in (("olga", "word", {"text": OLGA_TEXT}), ("olga", "pick", {"choice": "beta"}),
                                  ("sam", "pick", {"choice": "beta"}), ("sam", "word", {"text": SAM_TEXT})):
            assert submit(people[name], LIVE, key, answer).status == 201
        olga_word = db.session.scalar(sa.select(Submission).where(
            Submission.user_id == people["olga"].id, Submission.payload["text"].as_string() == OLGA_TEXT))
        world.subs["olga_override"] = olga_word.id
        grade_control.override(olga_word, "7", OLGA_OVERRIDE_REASON, mona)

        world.posts["visible"] = discussion.add_post(people["olga"], live, "Olga's visible post.").id
        hidden = discussion.add_post(people["olga"], live, HIDDEN_POST)
        discussion.hide(hidden, mona, HIDE_REASON)
        world.posts["hidden"] = hidden.id
        world.posts["old"] = discussion.add_post(people["sam"], puzzles[REVEALED], "Sam on the old puzzle.").id
        db.session.remove()
        db.engine.dispose()
    _closed_explanations(app, world)


def _closed_explanations(app: Flask, world: World) -> None:
    """The closed puzzle's explanation question: olga's answer graded by mona (with a
    comment), sam's not graded yet. Rows inserted (tests/explanation_fixtures.py)."""
    from puzzle_platform.extensions import db
    from puzzle_platform.grading import explanation_queue
    from puzzle_platform.models import User

    qid = add_explanation_question(app, CLOSED)
    world.subs["expl_graded"] = add_version(app, "olga", qid, f"{CLOSED_EXPLANATION} **bold**")
    world.subs["expl_ungraded"] = add_version(app, "sam", qid, "Sam's explanation.")
    with app.app_context():
        mona = db.session.scalar(sa.select(User).where(User.username == "mona"))
        explanation_queue.grade(world.subs["expl_graded"], mona, ["mean_vector"], EXPLANATION_COMMENT)
        db.session.remove()
        db.engine.dispose()


@pytest.fixture(scope="session")
def world(tmp_path_factory, template_db) -> World:
    """Build the world once: puzzle folders, `puzzles sync`, artifacts, then the rows."""
    folder = tmp_path_factory.mktemp("security-world")
    built = World(db_path=folder / "world.sqlite3", puzzles_dir=folder / "puzzles")
    shutil.copy(template_db, built.db_path)
    built.puzzles_dir.mkdir()
    _write_puzzles(built.puzzles_dir)
    app = create_app(_config(folder, built.db_path, built.puzzles_dir))
    result = app.test_cli_runner().invoke(args=["puzzles", "sync"])
    assert result.exit_code == 0, result.output
    add_artifact(app, LIVE, "fig", LIVE_STATS)
    add_artifact(app, REVEALED, "fig", {"mean_cos": 0.4711, "std_cos": 0.05, "mean_norm": 2.0})
    _populate(app, built)
    _explanations(app, built, datetime.now(timezone.utc))
    return built


def _explanations(app: Flask, world: World, now: datetime) -> None:
    """Explanation question "why" on the live puzzle (olga's, cora's and sam's versions, all
    graded; olga's featured) and on the revealed one (olga's featured, written before its
    deadline)."""
    from tests.explanation_helpers import add_explanation_question, add_version, grade

    add_explanation_question(app, LIVE, rubric=LIVE_RUBRIC)
    add_explanation_question(app, REVEALED)
    for name, text in (("olga", OLGA_EXPLANATION), ("cora", CORA_EXPLANATION), ("sam", SAM_EXPLANATION)):
        sub = add_version(app, LIVE, "why", name, text)
        world.grades[f"{name}_live"] = grade(app, sub, ("core", "slip"), EX_COMMENTS[name],
                                             featured=name == "olga", mentor="mona")
    old = add_version(app, REVEALED, "why", "olga", OLD_FEATURED, at=now - timedelta(days=2, hours=12))
    world.grades["olga_old"] = grade(app, old, ("mean_vector",), "Old comment.", featured=True, mentor="mona")
    with app.app_context():
        from puzzle_platform.extensions import db

        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def app(tmp_path, world, puzzles_dir):
    """A fresh copy of the world for this test (overrides the root conftest's empty app)."""
    db_path = tmp_path / "world.sqlite3"
    shutil.copy(world.db_path, db_path)
    for folder in world.puzzles_dir.iterdir():
        shutil.copytree(folder, puzzles_dir / folder.name)
    app = create_app(_config(tmp_path, db_path, puzzles_dir))
    app.config["WORLD_DB_PATH"] = str(db_path)
    yield app
    with app.app_context():
        app.extensions["sqlalchemy"].engine.dispose()


def restore_world(app: Flask, world: World) -> None:
    """Put this test's database back to the world as built (between the cells of a row)."""
    with app.app_context():
        app.extensions["sqlalchemy"].engine.dispose()
    path = Path(app.config["WORLD_DB_PATH"])
    for suffix in ("-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    shutil.copy(world.db_path, path)


def log_in(client: FlaskClient, username: str) -> None:
    resp = client.post("/login", data={"csrf_token": csrf_token(client, "/login"),
                                       "username": username, "password": PASSWORD})
    assert resp.status_code == 302, f"log in as {username}: {resp.status_code}"


def client_as(app: Flask, role: str) -> FlaskClient:
    """A test client for the role, logged in through the real form (anonymous: not at all)."""
    client = app.test_client()
    if role != "anonymous":
        log_in(client, ROLE_USER[role])
    return client


# --- every GET rule, expanded ---------------------------------------------------------------

SKIP_PREFIXES = ("/static/", "/vendor/")
QUERY_ARGS = {  # endpoints that read query arguments naming puzzles or cohorts
    "leaderboard.show": ("puzzle", "cohort"), "leaderboard.as_json": ("puzzle", "cohort"),
    "leaderboard.as_csv": ("puzzle", "cohort"), "api.leaderboard": ("puzzle", "cohort"),
    "api.my_submissions": ("puzzle",),
}


def argument_values(world: World) -> dict[str, list[object]]:
    """Every value the world has for each URL argument name (slugs: puzzles and cohorts)."""
    return {
        "slug": [*PUZZLE_SLUGS, *COHORT_SLUGS], "key": list(QUESTION_KEYS), "username": list(USERNAMES),
        "figure_key": ["fig"],
        "code": [world.codes[s] for s in COHORT_SLUGS], "user_id": list(world.users.values()),
        "post_id": list(world.posts.values()), "submission_id": list(world.subs.values()),
        "token_id": list(world.token_ids.values()), "session_id": list(world.sessions.values()),
    }


def get_seeds(app: Flask, world: World) -> list[str]:
    """A URL for every combination of world values of every GET rule (static files aside),
    plus the query-string scopes of the leaderboards and the API's submission list."""
    values = argument_values(world)
    adapter = app.url_map.bind("localhost")
    seeds: list[str] = []
    for rule in app.url_map.iter_rules():
        if "GET" not in (rule.methods or ()) or rule.endpoint in ("static", "vendor.plotly_js"):
            continue
        names = sorted(rule.arguments)
        for combo in itertools.product(*(values[n] for n in names)):
            seeds.append(adapter.build(rule.endpoint, dict(zip(names, combo)), method="GET"))
        for arg in QUERY_ARGS.get(rule.endpoint, ()):
            pool = PUZZLE_SLUGS if arg == "puzzle" else COHORT_SLUGS
            seeds.extend(adapter.build(rule.endpoint, {arg: v}, method="GET") for v in pool)
    return list(dict.fromkeys(seeds))


class _Links(HTMLParser):
    """URLs a page points at: href, src, GET form actions and data-*-url attributes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for name, value in attrs:
            if value and (name in ("href", "src") or (name.startswith("data-") and name.endswith("-url"))):
                self.urls.append(value)
        if tag == "form" and (a.get("method") or "get").lower() == "get":
            self.urls.append(a.get("action") or "")


def same_site_links(html: str, base: str) -> list[str]:
    parser = _Links()
    parser.feed(html)
    out = []
    for raw in parser.urls:
        parts = urlsplit(urljoin("http://localhost" + base, raw.strip()))
        if parts.scheme not in ("http", "https") or parts.netloc != "localhost":
            continue
        if parts.path.startswith(SKIP_PREFIXES):
            continue
        out.append(parts.path + (f"?{parts.query}" if parts.query else ""))
    return out


@dataclass
class Page:
    url: str
    status: int
    content_type: str
    body: str
    found_by_link: bool


def crawl(client: FlaskClient, seeds: list[str], headers: dict[str, str] | None = None,
          limit: int = 300) -> dict[str, Page]:
    """GET every seed, then breadth-first every same-site link (and redirect target) found,
    up to `limit` requests. `headers` go with /api/ requests only (a bearer token)."""
    queue = deque((url, False) for url in seeds)
    seen: set[str] = set()
    pages: dict[str, Page] = {}
    while queue and len(pages) < limit:
        url, by_link = queue.popleft()
        if url in seen:
            continue
        seen.add(url)
        resp = client.get(url, headers=headers if url.startswith("/api/") else None)
        body = resp.get_data(as_text=True)
        pages[url] = Page(url, resp.status_code, resp.content_type or "", body, by_link)
        found = []
        if resp.location:
            found += same_site_links(f'<a href="{resp.location}"></a>', url)
        if "html" in (resp.content_type or ""):
            found += same_site_links(body, url)
        queue.extend((link, True) for link in found if link not in seen)
    return pages


CRAWL_LIMIT = 300


def crawl_as(app, world, role: str):
    """Every GET route with the world's values, then every link, as `role` (API: its token)."""
    client = client_as(app, role)
    seeds = get_seeds(app, world)
    assert len(seeds) < CRAWL_LIMIT - 20, "the seeds alone would use up the crawl"
    pages = crawl(client, seeds, world.bearer(role), limit=CRAWL_LIMIT)
    assert set(seeds) <= set(pages), "every GET route was requested"
    return pages
