"""Publishing with checks: saving queues what changed, publish asks for confirmation and
refuses uncomputed figures unless overridden, the overview shows figures, statistics and a
suggested grader scale, drafts can be deleted while unanswered, "duplicate as next week"."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from puzzle_platform.extensions import db
from puzzle_platform.models import Artifact, Figure, Job, Puzzle, Question, RubricItem, Submission
from tests.explanation_helpers import add_explanation_question
from tests.helpers import (TWO_FIGURES, add_artifact, challenge_mean, figure_toml, issue_token, mean_question,
                           question_toml, write_puzzle)
from tests.test_mentor_authoring import count, get_puzzle, login_as, page_text, post, puzzle_form, token

BASE = "/mentor/puzzles/test-puzzle"


def _jobs(app) -> list[tuple[int, str, dict, str]]:
    with app.app_context():
        return [(j.id, j.figure_key, j.params, j.status)
                for j in db.session.scalars(sa.select(Job).order_by(Job.id))]


def _finish_jobs(app) -> None:
    """The worker's side, as far as these tests need it: every job done."""
    with app.app_context():
        db.session.execute(sa.update(Job).values(status="succeeded"))
        db.session.commit()


def plain(resp) -> str:
    """The page's text without tags, whitespace collapsed."""
    return " ".join(re.sub(r"<[^>]+>", " ", page_text(resp)).split())


def _published(app, slug: str = "test-puzzle") -> bool:
    return get_puzzle(app, slug).published


# --- saving queues the figures it changed ---------------------------------------------------

def test_saving_queues_exactly_the_changed_figures(app, client, auth):
    login_as(auth, "mentor")
    resp = post(client, "/mentor/puzzles/new", puzzle_form(spec_toml=TWO_FIGURES + mean_question()),
                follow_redirects=True)
    assert "Queued the computation of figure(s) fig, fig2." in page_text(resp)
    assert sorted(j[1] for j in _jobs(app)) == ["fig", "fig2"]
    add_artifact(app, "web-puzzle", "fig", {"mean_cos": 0.5})
    add_artifact(app, "web-puzzle", "fig2", {"mean_cos": 0.5})
    _finish_jobs(app)
    from puzzle_platform.content.authoring import PuzzleForm

    with app.app_context():
        form = PuzzleForm.from_puzzle(db.session.scalar(sa.select(Puzzle))).as_dict()
    before = len(_jobs(app))
    resp = post(client, "/mentor/puzzles/web-puzzle/edit", form, follow_redirects=True)
    assert resp.status_code == 200 and "Queued the computation" not in page_text(resp)
    assert len(_jobs(app)) == before  # unchanged computed figures are not recomputed
    changed = figure_toml() + figure_toml("fig2", "Another figure", model="models:tiny", weights="raw",
                                          center=True) + mean_question()
    resp = post(client, "/mentor/puzzles/web-puzzle/edit", {**form, "spec_toml": changed}, follow_redirects=True)
    assert "Queued the computation of figure(s) fig2." in page_text(resp)
    new = _jobs(app)[before:]
    assert [(key, params["params"].get("center"), status) for _, key, params, status in new] == [
        ("fig2", True, "queued")]
    # Saved again unchanged: fig2's job is still queued, fig is computed: nothing new.
    post(client, "/mentor/puzzles/web-puzzle/edit", {**form, "spec_toml": changed})
    assert len(_jobs(app)) == before + 1


# --- publish: confirmation, refusal, override ------------------------------------------------

def _draft(app, puzzles_dir, sync, client, auth, **kwargs) -> None:
    write_puzzle(puzzles_dir, **kwargs)
    sync()
    login_as(auth, "mentor")
    post(client, f"{BASE}/unpublish")
    assert not _published(app)


def test_publish_uncomputed_is_refused_unless_overridden(app, client, auth, puzzles_dir, sync):
    _draft(app, puzzles_dir, sync, client, auth)
    resp = post(client, f"{BASE}/publish")
    text = page_text(resp)
    assert resp.status_code == 200 and "fig" in text and "not computed" in text
    assert "no truth yet" in text and "Publish anyway: scholars see 'Figure not available yet'" in text
    assert not _published(app)
    resp = post(client, f"{BASE}/publish", {"confirm": "1"})
    assert resp.status_code == 409 and "fig (not computed)" in page_text(resp)
    assert not _published(app)
    assert post(client, f"{BASE}/publish", {"confirm": "1", "override": "1"}).status_code == 303
    assert _published(app)


@pytest.mark.parametrize("status, progress, error, shown", [
    ("queued", 0, None, "queued"),
    ("running", 40, None, "running 40%"),
    ("failed", 0, "model models:nope not found", "failed: model models:nope not found"),
])
def test_confirmation_shows_each_job_state_and_refuses(app, client, auth, puzzles_dir, sync,
                                                       status, progress, error, shown):
    _draft(app, puzzles_dir, sync, client, auth)
    post(client, f"{BASE}/compute")
    with app.app_context():
        db.session.execute(sa.update(Job).values(status=status, progress=progress, error=error))
        db.session.commit()
    assert shown in plain(post(client, f"{BASE}/publish"))
    assert post(client, f"{BASE}/publish", {"confirm": "1"}).status_code == 409
    assert not _published(app)


def test_computed_puzzle_publishes_after_confirmation(app, client, auth, puzzles_dir, sync):
    _draft(app, puzzles_dir, sync, client, auth)
    add_artifact(app, "test-puzzle", "fig", {"mean_cos": 0.123456})
    resp = post(client, f"{BASE}/publish")
    text = plain(resp)
    assert "fig A figure: computed at" in text and "truth 0.123456" in text
    assert "Publish anyway" not in text and '<button type="submit">Publish</button>' in page_text(resp)
    assert not _published(app)
    assert post(client, f"{BASE}/publish", {"confirm": "1"}).status_code == 303
    assert _published(app)
    assert post(client, f"{BASE}/unpublish").status_code == 303 and not _published(app)


def test_literal_puzzle_publishes_after_confirmation(app, client, auth, puzzles_dir, sync):
    _draft(app, puzzles_dir, sync, client, auth, figures="",
           questions=question_toml("lit", "Two plus two?", grader="abs_tol", grader_params={"tolerance": 0.1},
                                   truth=4))
    text = page_text(post(client, f"{BASE}/publish"))
    assert "No figures" in text and "literal truth" in text and "Publish anyway" not in text
    assert post(client, f"{BASE}/publish", {"confirm": "1"}).status_code == 303
    assert _published(app)


# --- the overview: figures, statistics, suggested scales ------------------------------------

def test_overview_shows_figure_statistics_and_suggested_scales(app, client, auth, puzzles_dir, sync):
    write_puzzle(puzzles_dir, figures=TWO_FIGURES,
                 questions=mean_question() + challenge_mean("guess", "fig2"))
    sync()
    # Independent of the code: max(|truth|, std) to one significant digit, by hand.
    add_artifact(app, "test-puzzle", "fig", {"mean_cos": 0.27, "std_cos": 0.1})          # scale 0.3
    add_artifact(app, "test-puzzle", "fig2", {"mean_cos": -0.012, "std_cos": 0.048})     # tol 0.0048 -> 0.005
    login_as(auth, "mentor")
    resp = client.get(BASE)
    text = plain(resp)
    assert 'data-figure="fig-json-fig"' in page_text(resp) and 'data-figure="fig-json-fig2"' in page_text(resp)
    assert "fig.std_cos" in text and "population standard deviation of cos(x_i, x_j)" in text
    assert "current scale 0.5; suggested 0.3 (|truth| = 0.27, std_cos = 0.1)" in text
    assert "current tolerance 0.05; suggested 0.005" in text
    assert "/vendor/plotly" in page_text(resp)


# --- drafts: hidden, deletable while unanswered -----------------------------------------------

def test_drafts_are_hidden_from_scholars_on_home_and_api(app, client, auth):
    login_as(auth, "mentor")
    post(client, "/mentor/puzzles/new", puzzle_form(title="Draft-Title-Xyz"))
    auth.logout()
    api_token = issue_token(app, "sam")
    auth.login("sam")
    assert "Draft-Title-Xyz" not in page_text(client.get("/"))
    listed = client.get("/api/v1/puzzles", headers={"Authorization": f"Bearer {api_token}"})
    assert listed.status_code == 200 and "web-puzzle" not in listed.get_data(as_text=True)
    auth.logout()
    auth.login("mentor1")
    post(client, "/mentor/puzzles/web-puzzle/publish", {"confirm": "1", "override": "1"})
    auth.logout()
    auth.login("sam")
    assert "Draft-Title-Xyz" in page_text(client.get("/"))  # the check above can fail


def _web_draft_with_everything(app, client, auth) -> None:
    login_as(auth, "mentor")
    post(client, "/mentor/puzzles/new", puzzle_form())
    add_artifact(app, "web-puzzle", "fig", {"mean_cos": 0.5})
    add_explanation_question(app, "web-puzzle")


def _remaining(app) -> dict[str, int]:
    return {m.__name__: count(app, m) for m in (Puzzle, Figure, Question, Artifact, Job, RubricItem)}


def test_delete_a_draft_removes_everything_of_it(app, client, auth):
    _web_draft_with_everything(app, client, auth)
    assert all(_remaining(app).values())  # the check below can fail
    resp = post(client, "/mentor/puzzles/web-puzzle/delete", {"confirm_slug": "wrong"})
    assert resp.status_code == 400 and "type the slug web-puzzle" in page_text(resp)
    assert count(app, Puzzle) == 1
    resp = post(client, "/mentor/puzzles/web-puzzle/delete", {"confirm_slug": "web-puzzle"}, follow_redirects=True)
    assert resp.status_code == 200 and "Deleted puzzle 7 (web-puzzle)" in page_text(resp)
    assert not any(_remaining(app).values()), _remaining(app)
    assert client.get("/mentor/puzzles/web-puzzle").status_code == 404


def test_delete_is_refused_when_published_or_answered(app, client, auth):
    _web_draft_with_everything(app, client, auth)
    post(client, "/mentor/puzzles/web-puzzle/publish", {"confirm": "1"})
    assert _published(app, "web-puzzle")
    resp = post(client, "/mentor/puzzles/web-puzzle/delete", {"confirm_slug": "web-puzzle"})
    assert resp.status_code == 409 and "it is published" in page_text(resp)
    auth.logout()
    auth.register("sam")
    client.post("/puzzles/web-puzzle/questions/why", data={
        "csrf_token": token(client), "text": "Because of the mean vector."})
    assert count(app, Submission) == 1  # an explanation: a submission like any other
    auth.logout()
    auth.login("mentor1")
    post(client, "/mentor/puzzles/web-puzzle/unpublish")
    resp = post(client, "/mentor/puzzles/web-puzzle/delete", {"confirm_slug": "web-puzzle"})
    assert resp.status_code == 409 and "1 submission(s)" in page_text(resp)
    assert count(app, Puzzle) == 1 and count(app, Question) == 2


def test_delete_of_a_file_puzzle_whose_folder_exists_is_refused(app, client, auth, puzzles_dir, sync):
    folder = write_puzzle(puzzles_dir)
    sync()
    login_as(auth, "mentor")
    post(client, f"{BASE}/unpublish")
    resp = post(client, f"{BASE}/delete", {"confirm_slug": "test-puzzle"})
    text = page_text(resp)
    assert resp.status_code == 409
    assert "remove its folder 01-test-puzzle/ first, or the next sync brings it back" in text
    assert str(puzzles_dir) not in text
    import shutil

    shutil.rmtree(folder)
    assert post(client, f"{BASE}/delete", {"confirm_slug": "test-puzzle"}).status_code == 303
    assert count(app, Puzzle) == 0


def test_delete_of_an_exported_web_draft_is_refused_while_its_folder_exists(app, client, auth, puzzles_dir, sync):
    """An exported web draft has a folder too: deleting only the row would let the next sync
    bring it back."""
    login_as(auth, "admin")  # exporting writes to the server: admins only
    assert post(client, "/mentor/puzzles/new", puzzle_form()).status_code == 303
    assert post(client, "/mentor/puzzles/web-puzzle/export").status_code == 303
    folder = puzzles_dir / "07-web-puzzle"
    assert folder.is_dir()
    resp = post(client, "/mentor/puzzles/web-puzzle/delete", {"confirm_slug": "web-puzzle"})
    assert resp.status_code == 409, resp.status_code
    assert "remove its folder 07-web-puzzle/ first" in page_text(resp)
    sync()
    assert count(app, Puzzle) == 1
    import shutil

    shutil.rmtree(folder)
    assert post(client, "/mentor/puzzles/web-puzzle/delete", {"confirm_slug": "web-puzzle"}).status_code == 303
    sync()
    assert count(app, Puzzle) == 0  # nothing brings it back


# --- duplicate as next week ----------------------------------------------------------------

def test_duplicate_as_next_week(app, client, auth, puzzles_dir, sync):
    write_puzzle(puzzles_dir, number=3, slug="cosines-week-3")
    write_puzzle(puzzles_dir, number=5, slug="other")
    sync()
    login_as(auth, "mentor")
    text = page_text(client.get("/mentor/puzzles/cosines-week-3"))
    assert 'name="number" inputmode="numeric" required size="5" value="6"' in text  # max(3, 5) + 1
    assert 'value="cosines-6"' in text and 'name="shift_days" inputmode="numeric" size="4" value="7"' in text
    resp = post(client, "/mentor/puzzles/cosines-week-3/duplicate",
                {"number": "6", "slug": "cosines-6", "shift_days": "7"}, follow_redirects=True)
    assert "Duplicated as puzzle 6 (cosines-6), unpublished, dates moved by 7 day(s)." in page_text(resp)
    assert "Queued the computation of figure(s) fig." in page_text(resp)
    old, new = get_puzzle(app, "cosines-week-3"), get_puzzle(app, "cosines-6")
    week = timedelta(days=7)
    assert (new.release_at, new.deadline_at, new.reveal_at) == (
        old.release_at + week, old.deadline_at + week, old.reveal_at + week)
    assert (new.number, new.published) == (6, False)
    # The plain duplicate keeps the dates (shift 0); a bad shift is refused.
    post(client, "/mentor/puzzles/cosines-week-3/duplicate", {"number": "8", "slug": "same", "shift_days": "0"})
    assert get_puzzle(app, "same").release_at == old.release_at
    resp = post(client, "/mentor/puzzles/cosines-week-3/duplicate", {"number": "9", "slug": "x", "shift_days": "a"})
    assert resp.status_code == 400 and "shift must be a whole number of days" in page_text(resp)
    assert get_puzzle(app, "x") is None
