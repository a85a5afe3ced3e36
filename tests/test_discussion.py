"""The discussion thread: who may read and write when, moderation, safety and limits."""
from datetime import timedelta

import sqlalchemy as sa
from freezegun import freeze_time

from puzzle_platform.extensions import db
from puzzle_platform.models import Post, Puzzle
from puzzle_platform.timeutil import utcnow
from tests.helpers import add_artifact, challenge_mean, csrf_token, write_puzzle

THREAD = "/puzzles/test-puzzle/discussion"


def _post(client, path=THREAD, **fields):
    return client.post(path, data={"csrf_token": csrf_token(client, "/login"), **fields})


def _answer(client, value):
    return client.post("/puzzles/test-puzzle/questions/mean",
                       data={"csrf_token": csrf_token(client, "/login"), "value": value})


def _posts(app) -> list[Post]:
    with app.app_context():
        return list(db.session.scalars(sa.select(Post).order_by(Post.id)))


def _live(app, puzzles_dir, sync, auth, *users):
    write_puzzle(puzzles_dir, questions=challenge_mean(max_attempts=3))
    sync()
    add_artifact(app, "test-puzzle", "fig", {"mean_cos": 0.5})
    for name in users:
        auth.create_user(name, role="mentor" if name.startswith("mentor") else "scholar")


def _solver(client, auth, name="ann"):
    auth.login(name)
    assert _answer(client, "0.5").status_code == 303  # exact: graded correct


def test_gate_anonymous_unsolved_wrong_then_solved(app, client, auth, puzzles_dir, sync):
    _live(app, puzzles_dir, sync, auth, "ann")
    assert client.get(THREAD).status_code == 401
    assert _post(client, body="hi").status_code == 401
    auth.login("ann")
    r = client.get(THREAD)
    text = r.get_data(as_text=True)
    assert r.status_code == 403
    with app.app_context():
        reveal = db.session.scalar(sa.select(Puzzle.reveal_at)).strftime("%Y-%m-%d %H:%M UTC")
    assert "solve a question or wait for the reveal on" in text and reveal in text
    assert _post(client, body="a spoiler").status_code == 403
    assert _answer(client, "0.9").status_code == 303  # graded, wrong
    assert client.get(THREAD).status_code == 403
    with freeze_time(utcnow() + timedelta(seconds=61)):
        assert _answer(client, "0.5").status_code == 303  # graded, correct
        assert client.get(THREAD).status_code == 200
    assert _posts(app) == []


def test_solver_posts_and_others_still_wait(app, client, auth, puzzles_dir, sync):
    _live(app, puzzles_dir, sync, auth, "ann", "ben")
    _solver(client, auth)
    assert _post(client, body="First **post**").status_code == 303
    assert _post(client, body="Second post").status_code == 303
    page = client.get(THREAD).get_data(as_text=True)
    assert "<strong>post</strong>" in page
    assert page.index("First") < page.index("Second post")  # newest last
    assert [p.body_md for p in _posts(app)] == ["First **post**", "Second post"]
    auth.logout()
    auth.login("ben")
    assert client.get(THREAD).status_code == 403
    assert "Second post" not in client.get(THREAD).get_data(as_text=True)


def test_open_to_everyone_logged_in_after_reveal(app, client, auth, puzzles_dir, sync):
    _live(app, puzzles_dir, sync, auth, "ann", "ben")
    _solver(client, auth)
    _post(client, body="From a solver")
    auth.logout()
    write_puzzle(puzzles_dir, state="revealed")
    sync()
    assert client.get(THREAD).status_code == 401
    auth.login("ben")
    r = client.get(THREAD)
    assert r.status_code == 200 and "From a solver" in r.get_data(as_text=True)
    assert _post(client, body="Late but here").status_code == 303


def test_mentors_always_and_scholars_404_on_unreleased(app, client, auth, puzzles_dir, sync):
    write_puzzle(puzzles_dir, state="upcoming")
    sync()
    auth.create_user("mentor1", role="mentor")
    auth.create_user("ann")
    auth.login("ann")
    assert client.get(THREAD).status_code == 404
    auth.logout()
    auth.login("mentor1")
    assert client.get(THREAD).status_code == 200
    assert _post(client, body="Mentor note").status_code == 303


def test_puzzle_page_links_the_thread(app, client, auth, puzzles_dir, sync):
    _live(app, puzzles_dir, sync, auth)
    assert f'href="{THREAD}"' in client.get("/puzzles/test-puzzle").get_data(as_text=True)


def test_bad_posts_are_400_and_not_stored(app, client, auth, puzzles_dir, sync):
    _live(app, puzzles_dir, sync, auth, "ann")
    _solver(client, auth)
    r = _post(client, body="   \n ")
    assert r.status_code == 400 and "empty" in r.get_data(as_text=True)
    r = _post(client, body="x" * 20_001)
    assert r.status_code == 400 and "20,000 characters" in r.get_data(as_text=True)
    r = client.post(THREAD, data={"body": "no token"})
    assert r.status_code == 400 and "security token" in r.get_data(as_text=True)
    assert _posts(app) == []
    assert _post(client, body="y" * 20_000).status_code == 303


def test_posts_are_sanitized_markdown_with_spoilers(app, client, auth, puzzles_dir, sync):
    _live(app, puzzles_dir, sync, auth, "ann")
    _solver(client, auth)
    body = ("<script>alert(1)</script> [a](javascript:alert(2)) <img src=x onerror=alert(3)>\n\n"
            "::: spoiler My hint\nhidden bit\n:::\n\n$x^2$")
    assert _post(client, body=body).status_code == 303
    page = client.get(THREAD).get_data(as_text=True)
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)" in page
    assert 'href="javascript' not in page and "<img" not in page and "onerror=alert(3)>" not in page
    assert '<details class="spoiler"><summary>My hint</summary>' in page
    assert "<math" in page


def test_mentor_hides_and_unhides_a_post(app, client, auth, puzzles_dir, sync):
    _live(app, puzzles_dir, sync, auth, "ann", "ben", "mentor1")
    _solver(client, auth, "ben")
    auth.logout()
    _solver(client, auth, "ann")
    _post(client, body="The answer is SPOILER-BODY")
    post_id = _posts(app)[0].id
    hide = f"{THREAD}/posts/{post_id}/hide"
    assert _post(client, hide, reason="mine").status_code == 403  # scholars cannot moderate
    auth.logout()
    assert _post(client, hide, reason="x").status_code == 401
    auth.login("mentor1")
    r = _post(client, hide, reason="  ")
    assert r.status_code == 400 and "reason" in r.get_data(as_text=True)
    assert _post(client, f"{THREAD}/posts/999/hide", reason="x").status_code == 404
    assert _post(client, hide, reason="Spoils question 2").status_code == 303
    (row,) = _posts(app)
    assert row.hidden and row.body_md == "The answer is SPOILER-BODY" and row.hidden_reason == "Spoils question 2"
    assert row.hidden_by is not None and row.hidden_at is not None
    mentor_page = client.get(THREAD).get_data(as_text=True)
    assert "Hidden by a mentor" in mentor_page and "SPOILER-BODY" in mentor_page
    assert "Spoils question 2" in mentor_page and "Show again" in mentor_page
    auth.logout()
    auth.login("ann")  # the author: notice and reason, no body
    page = client.get(THREAD).get_data(as_text=True)
    assert "Hidden by a mentor" in page and "SPOILER-BODY" not in page and "Spoils question 2" in page
    auth.logout()
    auth.login("ben")  # someone else: just the notice
    page = client.get(THREAD).get_data(as_text=True)
    assert "Hidden by a mentor" in page and "SPOILER-BODY" not in page and "Spoils question 2" not in page
    assert _post(client, f"{THREAD}/posts/{post_id}/unhide").status_code == 403
    auth.logout()
    auth.login("mentor1")
    assert _post(client, f"{THREAD}/posts/{post_id}/unhide").status_code == 303
    auth.logout()
    auth.login("ben")
    page = client.get(THREAD).get_data(as_text=True)
    assert "SPOILER-BODY" in page and "Hidden by a mentor" not in page


def test_post_of_another_puzzle_is_404(app, client, auth, puzzles_dir, sync):
    _live(app, puzzles_dir, sync, auth, "ann", "mentor1")
    write_puzzle(puzzles_dir, number=2, slug="other")
    sync()
    _solver(client, auth)
    _post(client, body="on puzzle one")
    post_id = _posts(app)[0].id
    auth.logout()
    auth.login("mentor1")
    assert _post(client, f"/puzzles/other/discussion/posts/{post_id}/hide", reason="x").status_code == 404
    assert not _posts(app)[0].hidden


def test_post_rate_limit(app, client, auth, puzzles_dir, sync):
    _live(app, puzzles_dir, sync, auth, "ann")
    _solver(client, auth)
    start = utcnow().replace(minute=0, second=1, microsecond=0) + timedelta(hours=1)
    with freeze_time(start):
        for i in range(10):
            assert _post(client, body=f"post {i}").status_code == 303
        r = _post(client, body="one too many")
        assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
        text = r.get_data(as_text=True)
        assert "wait" in text and "one too many" in text  # the draft is kept in the form
    assert len(_posts(app)) == 10
    with freeze_time(start + timedelta(minutes=10)):
        assert _post(client, body="next window").status_code == 303
