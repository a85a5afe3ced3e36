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
