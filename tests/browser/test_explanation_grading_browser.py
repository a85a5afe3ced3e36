"""A mentor grades three explanations with the keyboard only: digits toggle rubric items,
Enter saves and opens the next ungraded answer (static/mentor.js, no inline script)."""
from __future__ import annotations

from datetime import timedelta

import pytest

from tests.browser.actions import log_in
from tests.explanation_fixtures import add_explanation_question, add_version
from tests.helpers import question_toml, write_puzzle

pytestmark = pytest.mark.browser

Q = "/mentor/puzzles/test-puzzle/questions/explain/explanations"


def test_mentor_grades_three_answers_with_the_keyboard(new_page, page_log, live_server, app, auth, sync,
                                                       puzzles_dir, expect):
    write_puzzle(puzzles_dir, state="closed", figures="", questions=question_toml(
        "lit", "A number.", kind="numeric", grader="abs_tol", grader_params={"tolerance": 0.01}, truth=0.5))
    sync()
    qid = add_explanation_question(app, "test-puzzle")
    for i, name in enumerate(("ann", "bob", "cy")):
        auth.create_user(name)
        add_version(app, name, qid, f"Answer by {name}: the **mean vector**.", timedelta(hours=3 - i))
    auth.create_user("mona", role="mentor")

    page = new_page()
    log_in(page, "mona")
    page.goto(Q)
    expect(page.locator("#grading-progress")).to_contain_text("0 of 3 graded")
    page.get_by_role("button", name="Grade next ungraded").click()
    for number, digits in ((1, "1"), (2, "23"), (3, "4")):
        expect(page.get_by_role("heading", level=1)).to_have_text(f"Answer #{number}")
        page.wait_for_load_state("load")  # static/mentor.js listens for the keys only once it has run
        expect(page.locator("#explanation strong")).to_have_text("mean vector")  # Markdown, sanitised
        for d in digits:
            page.keyboard.press(d)
        for d in "1234":
            expect(page.locator(f'input[data-digit="{d}"]')).to_be_checked(checked=d in digits)
        page.keyboard.press("Enter")
    expect(page).to_have_url(f"{live_server.url}{Q}")
    expect(page.locator("#grading-progress")).to_contain_text("3 of 3 graded")
    expect(page.locator("table.explanations")).to_contain_text("Ann")
    assert page_log.errors == [] and page_log.failed == []

    from puzzle_platform.extensions import db
    from puzzle_platform.grading.explanation_queue import applied_keys, versions
    from puzzle_platform.models import Question
    with app.app_context():
        got = [sorted(applied_keys(v.grade)) for v in versions(db.session.get(Question, qid))]
    assert got == [["mean_vector"], ["anisotropy", "evidence"], ["wrong_norm"]]
