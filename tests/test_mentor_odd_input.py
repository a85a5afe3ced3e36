"""Odd but possible mentor input on the issue-13 pages: refused with a reason, never a 500."""
from __future__ import annotations

import sqlalchemy as sa

from puzzle_platform.extensions import db
from puzzle_platform.models import Puzzle
from tests.test_mentor_authoring import login_as, page_text, post, puzzle_form


def test_cohort_filter_with_non_ascii_digits_is_404(app, client, auth):
    login_as(auth, "mentor")
    assert post(client, "/mentor/puzzles/new", puzzle_form()).status_code == 303
    for raw in ("²", "１", "٣", "1" * 12):  # str.isdigit() says yes to the first three
        for path in ("answers", "answers.csv"):
            assert client.get(f"/mentor/puzzles/web-puzzle/{path}?cohort={raw}").status_code == 404


def test_duplicate_shifted_past_year_9999_is_refused(app, client, auth):
    login_as(auth, "mentor")
    form = puzzle_form(release_at="9999-12-20T00:00", deadline_at="9999-12-21T00:00",
                       reveal_at="9999-12-22T00:00")
    assert post(client, "/mentor/puzzles/new", form).status_code == 303
    resp = post(client, "/mentor/puzzles/web-puzzle/duplicate",
                {"number": "8", "slug": "copy", "shift_days": "30"})
    assert resp.status_code == 400
    assert "calendar" in page_text(resp)
    with app.app_context():
        assert db.session.scalars(sa.select(Puzzle.slug)).all() == ["web-puzzle"]


def test_publish_refuses_a_question_whose_computed_figure_lacks_its_statistic(
        app, client, auth, puzzles_dir, sync):
    """A computed figure without the statistic a question reads leaves every answer pending:
    publishing asks for the override, exactly as for an uncomputed figure."""
    from tests.helpers import add_artifact
    from tests.test_mentor_publishing import BASE, _draft, _published, plain

    _draft(app, puzzles_dir, sync, client, auth)
    add_artifact(app, "test-puzzle", "fig", {"std_cos": 0.25})  # no mean_cos
    text = plain(post(client, f"{BASE}/publish"))
    assert "fig A figure: computed at" in text and "no truth yet" in text and "Publish anyway" in text
    resp = post(client, f"{BASE}/publish", {"confirm": "1"})
    assert resp.status_code == 409 and "have no truth" in plain(resp)
    assert not _published(app)
    assert post(client, f"{BASE}/publish", {"confirm": "1", "override": "1"}).status_code == 303
    assert _published(app)


def test_an_explanation_question_does_not_hold_publishing_back(app, client, auth, puzzles_dir, sync):
    """Explanations have no truth (mentors grade them with the rubric): a computed puzzle with
    one publishes without the override."""
    from tests.explanation_helpers import add_explanation_question
    from tests.helpers import add_artifact
    from tests.test_mentor_publishing import BASE, _draft, _published, plain

    _draft(app, puzzles_dir, sync, client, auth)
    add_explanation_question(app, "test-puzzle")
    add_artifact(app, "test-puzzle", "fig", {"mean_cos": 0.5})
    text = plain(post(client, f"{BASE}/publish"))
    assert "why : graded by mentors with its rubric" in text and "Publish anyway" not in text
    assert post(client, f"{BASE}/publish", {"confirm": "1"}).status_code == 303
    assert _published(app)
