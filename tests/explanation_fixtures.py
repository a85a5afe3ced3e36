"""Explanation questions for the grading-queue tests, made by inserting rows (the question,
its rubric items, the scholars' versions): the queue is tested on its own, whatever the
puzzle files say (tests/test_explanations_core.py covers puzzle.toml)."""
from __future__ import annotations

from datetime import datetime, timedelta


RUBRIC = (("mean_vector", "Names the mean direction shared by all embeddings.", 3.0),
          ("anisotropy", "Says the embeddings are anisotropic.", 4.0),
          ("evidence", "Backs the claim with the figure.", 3.0),
          ("wrong_norm", "Confuses the cosine with the norm.", -2.0))


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
