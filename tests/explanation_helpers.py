"""Explanation questions, versions and mentors' grades written straight into the database,
for the scholar-side tests (the mentors' grading pages are tested on their own)."""
from __future__ import annotations

from datetime import datetime

RUBRIC = (("mean_vector", "Names the shared mean vector", 6.0),
          ("anisotropy", "Explains anisotropy", 4.0),
          ("wrong_sign", "Gets the sign of the effect wrong", -3.0))


def add_explanation_question(app, slug: str, key: str = "why", *, word_budget: int | None = 150,
                             points: float = 10.0, max_attempts: int = 50, rubric=RUBRIC,
                             prompt: str = "Explain why the cosines are high.") -> int:
    """An explanation question at the end of puzzle `slug`, with its rubric items; its id."""
    import sqlalchemy as sa

    from puzzle_platform.extensions import db
    from puzzle_platform.models import Puzzle, Question
    from puzzle_platform.models.explanation import RubricItem

    with app.app_context():
        puzzle = db.session.scalar(sa.select(Puzzle).where(Puzzle.slug == slug))
        question = Question(puzzle_id=puzzle.id, key=key, position=len(puzzle.questions), prompt_md=prompt,
                            kind="explanation", mode="forecast", grader="rubric", grader_params={},
                            points=points, max_attempts=max_attempts, word_budget=word_budget)
        db.session.add(question)
        db.session.flush()
        for position, (item_key, description, item_points) in enumerate(rubric):
            db.session.add(RubricItem(question_id=question.id, key=item_key, description=description,
                                      points=item_points, position=position))
        db.session.commit()
        return question.id


def add_version(app, slug: str, key: str, username: str, text: str, at: datetime | None = None) -> int:
    """A version of `username`'s explanation, as the answer route stores it (a pending
    Submission with payload {"text"}); its id."""
    import sqlalchemy as sa

    from puzzle_platform.extensions import db
    from puzzle_platform.models import Puzzle, Question, Submission, User
    from puzzle_platform.timeutil import utcnow

    with app.app_context():
        puzzle = db.session.scalar(sa.select(Puzzle).where(Puzzle.slug == slug))
        question = db.session.scalar(sa.select(Question).where(Question.puzzle_id == puzzle.id, Question.key == key))
        user = db.session.scalar(sa.select(User).where(User.username == username))
        count = db.session.scalar(sa.select(sa.func.count()).select_from(Submission).where(
            Submission.question_id == question.id, Submission.user_id == user.id))
        sub = Submission(user_id=user.id, question_id=question.id, puzzle_id=puzzle.id, payload={"text": text},
                         status="pending", attempt_no=count + 1, created_at=at or utcnow())
        db.session.add(sub)
        db.session.commit()
        return sub.id


def grade(app, submission_id: int, items: tuple[str, ...], comment: str = "", *, featured: bool = False,
          mentor: str | None = None) -> int:
    """A finished mentor's grade of one version (rubric items by key); its id."""
    import sqlalchemy as sa

    from puzzle_platform.extensions import db
    from puzzle_platform.models import Submission, User
    from puzzle_platform.models.explanation import ExplanationGrade, RubricApplication, RubricItem
    from puzzle_platform.timeutil import utcnow

    with app.app_context():
        sub = db.session.get(Submission, submission_id)
        grader = db.session.scalar(sa.select(User).where(User.username == mentor)) if mentor else None
        row = ExplanationGrade(submission_id=sub.id, question_id=sub.question_id, comment=comment,
                               graded_by=grader.id if grader else None, graded_at=utcnow(), featured=featured)
        db.session.add(row)
        db.session.flush()
        for item in db.session.scalars(sa.select(RubricItem).where(
                RubricItem.question_id == sub.question_id, RubricItem.key.in_(items))):
            db.session.add(RubricApplication(grade_id=row.id, rubric_item_id=item.id))
        db.session.commit()
        return row.id
