"""Explanation questions: declared with a rubric in puzzle.toml, answered in Markdown (every
version kept, editable until the deadline), graded by mentors with the rubric, counted at the
reveal; editing the rubric regrades. Totals are checked against sums computed here."""
from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from freezegun import freeze_time

from puzzle_platform.extensions import db
from puzzle_platform.grading.locks import lock_questions
from puzzle_platform.grading.refresh import refresh_questions
from puzzle_platform.models import (ExplanationGrade, GradeChange, Question, RubricApplication, RubricItem,
                                    Submission, User, UserTotal)
from puzzle_platform.timeutil import utcnow
from tests.helpers import after_reveal, csrf_token, write_puzzle

RUBRIC = {"mean": 4, "centre": 3, "small": 1, "wrong": -3}


def explanation_toml(points: float = 8, rubric: dict | None = None, extra: str = "") -> str:
    items = "".join(f'\n[[questions.rubric]]\nid = "{k}"\ndescription = "item {k}"\npoints = {v}\n'
                    for k, v in (RUBRIC if rubric is None else rubric).items())
    return (f'[[questions]]\nkey = "why"\nprompt = "Why?"\nkind = "explanation"\npoints = {points}\n'
            f'word_budget = 60\n{extra}{items}')


@pytest.fixture
def live(app, puzzles_dir, sync, auth):
    write_puzzle(puzzles_dir, figures="", questions=explanation_toml())
    sync()
    return app


def _post(client, text):
    return client.post("/puzzles/test-puzzle/questions/why", data={"csrf_token": csrf_token(client, "/login"),
                                                                    "text": text})


def _grade(app, username: str, keys: list[str], which: int = -1) -> None:
    """A mentor's grading of one version (the latest by default), as the queue writes it."""
    with app.app_context():
        q = db.session.scalar(sa.select(Question).where(Question.key == "why"))
        uid = db.session.scalar(sa.select(User.id).where(User.username == username))
        versions = db.session.scalars(sa.select(Submission).where(Submission.user_id == uid,
                                                                  Submission.question_id == q.id)
                                      .order_by(Submission.id)).all()
        lock_questions([q.id])
        grade = ExplanationGrade(submission_id=versions[which].id, question_id=q.id, comment="ok",
                                 graded_at=utcnow())
        db.session.add(grade)
        db.session.flush()
        items = {r.key: r.id for r in db.session.scalars(sa.select(RubricItem).where(RubricItem.question_id == q.id))}
        for key in keys:
            db.session.add(RubricApplication(grade_id=grade.id, rubric_item_id=items[key]))
        refresh_questions([q.id], "rubric graded")
        db.session.commit()


def _totals(app) -> dict[str, float]:
    with app.app_context():
        return dict(db.session.execute(sa.select(User.username, UserTotal.points)
                                       .join(UserTotal, UserTotal.user_id == User.id)).all())


def _expected(keys: list[str], points: float = 8, rubric: dict | None = None) -> float:
    return min(max(sum((rubric or RUBRIC)[k] for k in keys), 0), points)


def test_the_rubric_is_stored_in_order(live):
    with live.app_context():
        rows = db.session.execute(sa.select(RubricItem.key, RubricItem.points, RubricItem.position)
                                  .order_by(RubricItem.position)).all()
        q = db.session.scalar(sa.select(Question))
    assert [(k, p) for k, p, _ in rows] == list(RUBRIC.items())
    assert (q.kind, q.mode, q.grader, q.word_budget) == ("explanation", "forecast", "rubric", 60)


@pytest.mark.parametrize("toml, words", [
    (explanation_toml(rubric={}), "needs a rubric"),
    (explanation_toml(rubric={f"i{n}": 1 for n in range(10)}), "at most 9 rubric items"),
    (explanation_toml(rubric={"a": 0}), "non-zero"),
    (explanation_toml(rubric={"a": 9}), "within ±8"),
    (explanation_toml(rubric={"Bad Id": 1}), "id must be"),
    (explanation_toml(extra='mode = "challenge"\n'), "explanations are forecasts"),
    (explanation_toml(extra='statistic = "fig.mean_cos"\n'), "no statistic"),
    (explanation_toml(extra="word_budget = 0\n").replace("word_budget = 60\n", ""), "word_budget"),
])
def test_bad_explanation_questions_are_refused_at_sync(runner, puzzles_dir, toml, words):
    write_puzzle(puzzles_dir, figures="", questions=toml)
    result = runner.invoke(args=["puzzles", "sync"])
    assert result.exit_code != 0 and words in result.output, result.output


def test_every_version_is_kept_until_the_deadline(live, client, auth):
    auth.register("sam")
    assert _post(client, "First *draft*.").status_code == 303
    assert _post(client, "Second: the **mean** vector.").status_code == 303
    assert _post(client, "   ").status_code == 400
    assert _post(client, "x" * 5001).status_code == 400
    with live.app_context():
        texts = [s.payload.get("text") for s in db.session.scalars(sa.select(Submission).order_by(Submission.id))]
        statuses = db.session.scalars(sa.select(Submission.status).order_by(Submission.id)).all()
    assert texts[:2] == ["First *draft*.", "Second: the **mean** vector."]
    assert statuses[:2] == ["pending", "pending"] and statuses[2:] == ["rejected", "rejected"]
    with freeze_time(utcnow() + timedelta(days=1, hours=1)):  # past the deadline
        assert _post(client, "Too late.").status_code == 403


def test_rubric_points_count_at_the_reveal_for_the_last_version(live, client, auth):
    auth.register("sam")
    _post(client, "draft")
    _post(client, "final")
    auth.logout()
    auth.register("olga")
    _post(client, "olga's")
    _grade(live, "sam", ["wrong"], which=0)             # an old version's grade never counts
    _grade(live, "sam", ["mean", "centre", "small"])    # 4 + 3 + 1 = 8
    _grade(live, "olga", ["mean", "wrong"])             # 4 - 3 = 1
    assert _totals(live).get("sam", 0) == 0             # before the reveal nothing counts
    with after_reveal():
        client.get("/puzzles/test-puzzle")              # the first read scores the reveal
        totals = _totals(live)
    assert totals["sam"] == _expected(["mean", "centre", "small"]) == 8
    assert totals["olga"] == _expected(["mean", "wrong"]) == 1
    result = live.test_cli_runner().invoke(args=["grades", "verify"])
    assert result.exit_code == 0, result.output


def test_points_stay_within_zero_and_the_questions_points(live, client, auth):
    auth.register("sam")
    _post(client, "only wrong")
    _grade(live, "sam", ["wrong"])
    with after_reveal():
        client.get("/puzzles/test-puzzle")
        assert _totals(live)["sam"] == 0


def test_editing_the_rubric_regrades_and_logs_it(live, client, auth, puzzles_dir, sync):
    auth.register("sam")
    _post(client, "final")
    _grade(live, "sam", ["mean", "small"])
    with after_reveal():
        client.get("/puzzles/test-puzzle")
        assert _totals(live)["sam"] == 5
        new = {**RUBRIC, "mean": 6}
        write_puzzle(puzzles_dir, figures="", questions=explanation_toml(rubric=new), state="revealed")
        sync()
        assert _totals(live)["sam"] == _expected(["mean", "small"], rubric=new) == 7
        del new["small"]  # a removed item no longer applies
        write_puzzle(puzzles_dir, figures="", questions=explanation_toml(rubric=new), state="revealed")
        sync()
        assert _totals(live)["sam"] == 6
    with live.app_context():
        changes = db.session.scalars(sa.select(GradeChange.reason).order_by(GradeChange.id)).all()
    assert any("question definition changed" in c for c in changes)


def test_export_and_the_web_form_round_trip_an_explanation(app, runner, puzzles_dir, sync, tmp_path):
    """puzzle.toml -> database -> export -> sync again: nothing changes."""
    from puzzle_platform.content.authoring import spec_from_puzzle
    from puzzle_platform.content.writer import spec_to_table
    from puzzle_platform.models import Puzzle

    write_puzzle(puzzles_dir, figures="", questions=explanation_toml())
    sync()
    with app.app_context():
        table = spec_to_table(spec_from_puzzle(db.session.scalar(sa.select(Puzzle))))
    [q] = table["questions"]
    assert q["kind"] == "explanation" and q["word_budget"] == 60 and "grader" not in q
    assert [(r["id"], r["points"]) for r in q["rubric"]] == list(RUBRIC.items())
    result = runner.invoke(args=["puzzles", "export", "test-puzzle", "--dir", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    again = runner.invoke(args=["puzzles", "sync", "--dir", str(tmp_path / "out")])
    assert again.exit_code == 0 and "unchanged" in again.output, again.output
