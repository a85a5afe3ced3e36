"""What each viewer sees: nothing of the truth or the answer before the reveal."""
import pytest

from tests.helpers import add_artifact, after_reveal, csrf_token, write_puzzle

SECRET = "SECRET-ANSWER-TEXT"
TRUTH = {"mean_cos": 0.912345678}


def _pages(client):
    return "".join(client.get(p).get_data(as_text=True) for p in (
        "/", "/puzzles/test-puzzle", "/puzzles/test-puzzle/progress.json", "/leaderboard",
        "/leaderboard.json", "/feed.atom"))


@pytest.mark.parametrize("state", ["live", "closed"])
def test_no_truth_or_answer_before_reveal(app, client, auth, puzzles_dir, sync, state):
    write_puzzle(puzzles_dir, state=state)
    sync()
    add_artifact(app, "test-puzzle", "fig", TRUTH)
    for who in (None, "scholar"):
        if who:
            auth.register("sam")
        text = _pages(client)
        assert SECRET not in text
        assert "0.912" not in text and "9123" not in text


def test_upcoming_shows_only_release_time(app, client, auth, puzzles_dir, sync):
    write_puzzle(puzzles_dir, state="upcoming", title="Hidden Title")
    sync()
    index = client.get("/").get_data(as_text=True)
    assert "Hidden Title" not in index and "released" in index
    assert client.get("/puzzles/test-puzzle").status_code == 404
    assert "Hidden Title" not in client.get("/feed.atom").get_data(as_text=True)


def test_mentor_previews_upcoming(app, client, auth, puzzles_dir, sync):
    write_puzzle(puzzles_dir, state="upcoming", title="Hidden Title")
    sync()
    auth.create_user("mentor1", role="mentor")
    auth.login("mentor1")
    page = client.get("/puzzles/test-puzzle").get_data(as_text=True)
    assert "Hidden Title" in page and "mentor preview" in page and SECRET in page


def test_after_reveal_answer_truth_and_distribution(app, client, auth, puzzles_dir, sync):
    folder = write_puzzle(puzzles_dir, state="live")
    sync()
    add_artifact(app, "test-puzzle", "fig", TRUTH)
    auth.register("sam")
    client.post("/puzzles/test-puzzle/questions/mean", data={"csrf_token": csrf_token(client), "value": "0.8"})
    with after_reveal():
        page = client.get("/puzzles/test-puzzle").get_data(as_text=True)
    assert SECRET in page
    assert "0.912346" in page
    assert "Everyone" in page and "dist-json-mean" in page
    assert folder.exists()


def test_other_scholars_attempts_are_private(app, client, auth, puzzles_dir, sync):
    write_puzzle(puzzles_dir)
    sync()
    auth.register("alice")
    client.post("/puzzles/test-puzzle/questions/mean", data={"csrf_token": csrf_token(client), "value": "0.4242"})
    auth.logout()
    auth.register("bob")
    assert "0.4242" not in client.get("/puzzles/test-puzzle").get_data(as_text=True)


def test_unpublished_drafts_show_nowhere_to_non_mentors(app, client, auth, puzzles_dir, sync):
    write_puzzle(puzzles_dir, state="upcoming", title="Draft Title", number=77)
    sync()
    auth.create_user("mentor1", role="mentor")
    auth.login("mentor1")
    r = client.post("/mentor/puzzles/test-puzzle/unpublish", data={"csrf_token": csrf_token(client, "/")})
    assert r.status_code == 303
    assert "Puzzle 77" in client.get("/").get_data(as_text=True)  # mentors see their drafts
    auth.logout()
    for who in (None, "sam"):
        if who:
            auth.register(who)
        pages = _pages(client) + client.get("/api/v1/openapi.json").get_data(as_text=True)
        assert "Puzzle 77" not in pages and "Draft Title" not in pages and '"number": 77' not in pages
        assert client.get("/puzzles/test-puzzle").status_code == 404
