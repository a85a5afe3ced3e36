"""Explanation questions for tests, made by inserting rows (the question, its rubric items,
the scholars' versions) so the grading queue can be tested on its own. Once puzzle.toml
declares explanation questions, `add_explanation_question` can write them there instead.
"""
from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Iterator

import pytest

RUBRIC = (("mean_vector", "Names the mean direction shared by all embeddings.", 3.0),
          ("anisotropy", "Says the embeddings are anisotropic.", 4.0),
          ("evidence", "Backs the claim with the figure.", 3.0),
          ("wrong_norm", "Confuses the cosine with the norm.", -2.0))


@contextmanager
def rubric_scoring_stub() -> Iterator[None]:
    """Scoring refreshes look a question's grader up; until grading/state.py handles
    explanation questions itself (the lead's scoring integration), stand in a grader named
    "rubric" that takes no parameters. A no-op once "rubric" is known."""
    from graders.base import GRADERS, Grader, UnknownGrader, get_grader

    try:
        get_grader("rubric")
        yield
        return
    except UnknownGrader:
        pass
    GRADERS["rubric"] = Grader(name="rubric", kinds=frozenset({"text"}), description="Test stand-in.",
                               param_doc={}, parse_params=lambda raw: {}, check_truth=lambda truth, params: None,
                               score_answer=_unscored)
    try:
        yield
    finally:
        GRADERS.pop("rubric", None)


def authoring_knows_explanations() -> bool:
    """Whether puzzle.toml and the mentor's puzzle form accept explanation questions (issue 11,
    item 1). Until they do, a puzzle holding one cannot be shown in the puzzle editor, so the
    security world leaves its explanation question out and its rows skip."""
    from puzzle_platform.content import files

    try:
        files._question({"key": "explain", "prompt": "Explain.", "kind": "explanation"}, 0, {})
    except (ValueError, KeyError, TypeError):
        return False
    return True


def _unscored(answer, truth, params):
    raise AssertionError("the stand-in grader scores nothing")


@pytest.fixture
def rubric_stub():
    with rubric_scoring_stub():
        yield


def add_explanation_question(app, slug: str, key: str = "explain", points: float = 10.0,
                             rubric=RUBRIC, prompt: str = "Explain the figure in your words.") -> int:
    """An explanation question (mode forecast, grader rubric) with its rubric items on the
    puzzle `slug`; returns its id."""
    import sqlalchemy as sa

    from puzzle_platform.extensions import db
    from puzzle_platform.models import Puzzle, Question
    from puzzle_platform.models.explanation import RubricItem

    with app.app_context():
        puzzle = db.session.scalar(sa.select(Puzzle).where(Puzzle.slug == slug))
        question = Question(puzzle_id=puzzle.id, key=key, position=len(puzzle.questions), prompt_md=prompt,
                            kind="explanation", mode="forecast", grader="rubric", grader_params={},
                            points=points, max_attempts=50, word_budget=200)
        db.session.add(question)
        db.session.flush()
        db.session.add_all(RubricItem(question_id=question.id, key=k, description=d, points=p, position=i)
                           for i, (k, d, p) in enumerate(rubric))
        db.session.commit()
        return question.id


def add_version(app, username: str, question_id: int, text: str, before_deadline: timedelta | None = None,
                at: datetime | None = None) -> int:
    """One more version of the scholar's explanation (status pending, as the answer route
    stores them), made `before_deadline` before the puzzle's deadline (default: an hour) or
    `at`; returns the submission id."""
    import sqlalchemy as sa

    from puzzle_platform.extensions import db
    from puzzle_platform.models import Question, Submission, User

    with app.app_context():
        user = db.session.scalar(sa.select(User).where(User.username == username))
        question = db.session.get(Question, question_id)
        made = at or question.puzzle.deadline_at - (before_deadline or timedelta(hours=1))
        count = db.session.scalar(sa.select(sa.func.count()).select_from(Submission).where(
            Submission.user_id == user.id, Submission.question_id == question_id))
        sub = Submission(user_id=user.id, question_id=question_id, puzzle_id=question.puzzle_id,
                         payload={"text": text}, status="pending", attempt_no=count + 1, source="web",
                         created_at=made)
        db.session.add(sub)
        db.session.commit()
        return sub.id
