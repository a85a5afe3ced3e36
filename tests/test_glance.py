"""A scholar's week at a glance on the puzzle list: per puzzle what they have answered, what
is pending, what is scored at the reveal, their points once revealed, and what is new since
their last visit; all through the HTTP client. Anonymous visitors see the plain list."""
from __future__ import annotations

import re
from datetime import timedelta

import sqlalchemy as sa
from freezegun import freeze_time

from puzzle_platform.extensions import db
from puzzle_platform.models import Score, User
from puzzle_platform.timeutil import utcnow
from tests.helpers import (TWO_FIGURES, add_artifact, after_reveal, challenge_mean, choice_question, csrf_token,
                           mean_question, write_puzzle)
from tests.test_hot_path import counted

TRUTH = 0.62
# A forecast (10 points), a challenge on another figure (10) and a literal challenge (5).
QUESTIONS = (mean_question(points=10) + challenge_mean("guess", "fig2", points=10, max_attempts=3)
             + choice_question(points=5))


def _setup(puzzles_dir, sync, **more) -> None:
    write_puzzle(puzzles_dir, questions=QUESTIONS, figures=TWO_FIGURES)
    for number, (slug, state) in enumerate(more.items(), start=2):
        write_puzzle(puzzles_dir, number, slug.replace("_", "-"), state=state, title=f"Puzzle {slug}")
    sync()


def _answer(client, key: str, slug: str = "test-puzzle", **fields) -> None:
    data = {"csrf_token": csrf_token(client, f"/puzzles/{slug}"), **fields}
    assert client.post(f"/puzzles/{slug}/questions/{key}", data=data).status_code == 303


def glance(client, slug: str = "test-puzzle") -> str:
    """The glance line of one puzzle of the list, as text."""
    page = client.get("/").get_data(as_text=True)
    item = re.search(r'<li class="\w+">\s*<a href="/puzzles/' + slug + r'">.*?</li>', page, re.S)
    assert item, page
    line = re.search(r'<p class="glance">(.*?)</p>', item.group(0), re.S)
    return " ".join(re.sub(r"<[^>]+>", "", line.group(1)).split()) if line else ""


def badges(client, page: str | None = None) -> dict[str, str]:
    """Puzzle slug -> "released"/"revealed" for the puzzles marked new (this visit counts)."""
    page = client.get("/").get_data(as_text=True) if page is None else page
    return dict(re.findall(r'<a href="/puzzles/([\w-]+)">[^<]*</a>\s*<span class="badge \w+">\w+</span>\s*'
                           r'<span class="badge new"[^>]*>new: (\w+)</span>', page))


def test_none_answered(client, auth, puzzles_dir, sync):
    _setup(puzzles_dir, sync)
    auth.register("ada")
    assert glance(client) == "answered 0 of 3"
    page = client.get("/").get_data(as_text=True)
    assert "Your week at a glance" in page and "0 answers pending" in page
    assert 'still to answer: <a href="/puzzles/test-puzzle">puzzle 1</a>' in page


def test_some_answered_pending_forecast_and_solved_challenge(app, client, auth, puzzles_dir, sync):
    _setup(puzzles_dir, sync)
    add_artifact(app, "test-puzzle", "fig", {"mean_cos": TRUTH})
    auth.register("ada")
    _answer(client, "mean", value="0.5", lower="0.4", upper="0.7")
    assert glance(client) == "answered 1 of 3 · 1 pending · 1 forecast scored at the reveal"
    _answer(client, "pick", choice="beta")  # right at once
    assert glance(client) == ("answered 2 of 3 · 1 of 2 challenges solved · 1 pending"
                              " · 1 forecast scored at the reveal")
    _answer(client, "guess", value="0.1")  # no truth for fig2 yet: pending
    assert glance(client) == ("answered 3 of 3 · 1 of 2 challenges solved · 2 pending"
                              " · 1 forecast scored at the reveal")
    add_artifact(app, "test-puzzle", "fig2", {"mean_cos": TRUTH})  # graded now: wrong
    assert glance(client) == ("answered 3 of 3 · 1 of 2 challenges solved · 1 pending"
                              " · 1 forecast scored at the reveal")
    page = client.get("/").get_data(as_text=True)
    assert "points" not in page and "still to answer" not in page


def test_after_the_reveal_their_points(app, client, auth, puzzles_dir, sync):
    _setup(puzzles_dir, sync)
    add_artifact(app, "test-puzzle", "fig", {"mean_cos": TRUTH})
    add_artifact(app, "test-puzzle", "fig2", {"mean_cos": TRUTH})
    auth.register("ada")
    _answer(client, "mean", value=str(TRUTH))          # the forecast, exactly right: all 10 points
    _answer(client, "pick", choice="beta")             # 5 points
    _answer(client, "guess", value="0.1")              # wrong: 0
    expected = 10 + 5 + 0
    with after_reveal():
        line = glance(client)
    assert line == f"answered 3 of 3 · 1 of 2 challenges solved · revealed: {expected} points"
    with app.app_context():  # the board agrees
        assert db.session.scalar(sa.select(sa.func.sum(Score.points))) == expected


def test_new_since_the_last_visit(app, client, auth, puzzles_dir, sync):
    _setup(puzzles_dir, sync, gone="revealed", soon="upcoming")
    auth.register("ada")
    assert badges(client) == {}  # everything released before they registered
    with app.app_context():
        db.session.execute(sa.update(User).values(last_seen_index_at=utcnow() - timedelta(days=5)))
        db.session.commit()
    page = client.get("/").get_data(as_text=True)
    assert badges(client, page) == {"test-puzzle": "released", "gone": "revealed"}
    assert "2 new since your last visit" in page
    assert badges(client) == {}  # seen
    with after_reveal():  # two days on: the live puzzle is revealed, the upcoming one released
        assert badges(client) == {"test-puzzle": "revealed", "soon": "released"}
        assert badges(client) == {}


def test_a_visit_within_a_minute_writes_nothing(app, client, auth, puzzles_dir, sync):
    _setup(puzzles_dir, sync)
    auth.register("ada")
    client.get("/")
    with counted(app) as seen:
        assert client.get("/").status_code == 200
    assert seen["commits"] == 0
    assert not [s for s in seen["statements"] if s.startswith("UPDATE users")], seen["statements"]
    with freeze_time(utcnow() + timedelta(minutes=2)):
        with counted(app) as seen:
            client.get("/")
    # once a minute: this visit (and the login session's own "last seen", also once a minute)
    assert [s for s in seen["statements"] if s.startswith("UPDATE users")] and 1 <= seen["commits"] <= 2


def test_the_list_costs_the_same_for_one_puzzle_or_many(app, client, auth, puzzles_dir, sync):
    _setup(puzzles_dir, sync)
    auth.register("ada")
    _answer(client, "pick", choice="beta")
    client.get("/")
    with counted(app) as one:
        client.get("/")
    for number in range(2, 7):
        write_puzzle(puzzles_dir, number, f"more-{number}", questions=QUESTIONS, figures=TWO_FIGURES)
    sync()
    with counted(app) as six:
        page = client.get("/").get_data(as_text=True)
    assert page.count('<p class="glance">') == 6
    assert len(six["statements"]) == len(one["statements"]) <= 4, six["statements"]


def test_anonymous_visitors_and_upcoming_puzzles(app, client, auth, puzzles_dir, sync):
    _setup(puzzles_dir, sync, soon="upcoming")
    page = client.get("/").get_data(as_text=True)
    assert "glance" not in page and "answered" not in page and "new:" not in page
    auth.register("ada")
    page = client.get("/").get_data(as_text=True)
    soon = re.search(r'<li class="upcoming">.*?</li>', page, re.S).group(0)
    assert "answered" not in soon  # not even how many questions it has
