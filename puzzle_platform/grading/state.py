"""The scoring state as pure functions of the attempt log, the current truth and the overrides.

Three levels, each the one definition of its rule:

- `grade_attempt`: an attempt's grade (pending, or graded with score, points, correct and the
  feedback its question's mode allows);
- `question_score`: the Score row of one scholar and question (what counts, whether solved,
  and since when it has held its points);
- `user_total`: the UserTotal row from a scholar's Score rows (sum, solved, tie-break time).

Nothing here reads or writes the database: grading/refresh.py loads what these need, calls
them, and writes what differs, for a new attempt and for `grades verify` alike.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from graders import get_grader
from graders.base import direction

from .truth import Truth

FEEDBACK_AT_REVEAL = "Prediction recorded: predictions are scored at the reveal."
FEEDBACK_AWAITING_MENTOR = "Recorded: a mentor grades explanations; your points are shown at the reveal."
FEEDBACK_NO_TRUTH = ("Pending: the ground truth is still being computed; you will be graded "
                     "automatically.")
POINTS_PLACES = 4  # points and totals are rounded so that equal totals tie exactly


@dataclass(frozen=True)
class Rules:
    """What grading one question depends on, besides its attempts and its truth."""

    question_id: int
    puzzle_id: int
    mode: str
    kind: str
    grader: str
    grader_params: dict          # validated once here, with the grader's defaults filled in
    points: float
    deadline_at: datetime
    graded: bool   # attempts may be graded now: a challenge, or a forecast whose puzzle is scored
    counted: bool  # its points count: graded, and the puzzle is published

    @classmethod
    def of(cls, question, puzzle) -> "Rules":
        scored = puzzle.scored_at is not None
        graded = question.mode == "challenge" or scored
        params = ({} if question.kind == "explanation"  # graded by a mentor's rubric, no grader
                  else get_grader(question.grader).validate_params(dict(question.grader_params or {})))
        return cls(question.id, puzzle.id, question.mode, question.kind, question.grader,
                   params, float(question.points), puzzle.deadline_at,
                   graded, graded and bool(puzzle.published))


@dataclass(frozen=True)
class Attempt:
    """A counted attempt as the log holds it (what the scholar sent, and any override)."""

    id: int
    user_id: int
    created_at: datetime
    payload: dict
    override_points: float | None = None
    override_correct: bool | None = None
    rubric_points: float | None = None  # an explanation a mentor graded: its rubric's points


@dataclass(frozen=True)
class Grade:
    """The derived columns of one attempt."""

    status: str                 # "pending" or "graded"
    score: float | None
    points: float | None
    correct: bool | None
    feedback: str
    artifact_id: int | None


@dataclass(frozen=True)
class ScoreRow:
    user_id: int
    question_id: int
    puzzle_id: int
    points: float
    solved: bool
    submission_id: int
    reached_at: datetime | None   # since when the question has held these points
    answered_at: datetime         # the first counted attempt


@dataclass(frozen=True)
class TotalRow:
    user_id: int
    points: float
    solved: int
    answered: int
    reached_at: datetime          # the tie-break time


def challenge_feedback(rules: Rules, payload: dict, truth: object, correct: bool) -> str:
    """Right or wrong, plus "too high/too low" only where the mentor enabled hints."""
    if correct:
        return "Correct."
    hint = ""
    if rules.grader_params.get("hint") and isinstance(payload.get("value"), (int, float)) \
            and isinstance(truth, (int, float)):
        hint = direction(float(payload["value"]), float(truth))
    return f"Incorrect: {hint}." if hint else "Incorrect."


def grade_attempt(rules: Rules, truth: Truth | None, attempt: Attempt) -> Grade:
    """One attempt's grade. An override sets points and correctness together and stands
    whatever the truth does; a forecast waits for its puzzle's reveal."""
    if not rules.graded:
        return Grade("pending", None, None, None,
                     FEEDBACK_AWAITING_MENTOR if rules.kind == "explanation" else FEEDBACK_AT_REVEAL, None)
    if rules.kind == "explanation":
        return _explanation_grade(rules, attempt)
    if truth is None and attempt.override_points is None:
        return Grade("pending", None, None, None, FEEDBACK_NO_TRUTH, None)
    score = correct = None
    feedback = ""
    if truth is not None:
        grader = get_grader(rules.grader)  # params were validated by Rules.of: check the truth, score
        grader.check_truth(truth.value, rules.grader_params)
        result = grader.score_answer(attempt.payload, truth.value, rules.grader_params)
        score, correct = result.score, result.correct
        feedback = (challenge_feedback(rules, attempt.payload, truth.value, correct)
                    if rules.mode == "challenge" else result.feedback)
    if attempt.override_points is not None:
        points, correct = float(attempt.override_points), bool(attempt.override_correct)
    else:
        points = round(score * rules.points, POINTS_PLACES)
    return Grade("graded", score, points, correct, feedback, truth.artifact_id if truth else None)


def _explanation_grade(rules: Rules, attempt: Attempt) -> Grade:
    """A mentor's override, else the rubric's points once a mentor graded it, else pending."""
    if attempt.override_points is not None:
        points, correct = float(attempt.override_points), bool(attempt.override_correct)
    elif attempt.rubric_points is not None:
        points = float(attempt.rubric_points)
        correct = points >= rules.points / 2  # "solved": at least half the points
    else:
        return Grade("pending", None, None, None, FEEDBACK_AWAITING_MENTOR, None)
    score = round(points / rules.points, POINTS_PLACES) if rules.points else 0.0
    return Grade("graded", score, points, correct, "", None)


def question_score(rules: Rules, graded: Iterable[tuple[Attempt, Grade]]) -> ScoreRow | None:
    """What one scholar's attempts on one question count for (None: nothing counts yet).

    Challenge: the best attempt, reached at the first attempt with those points. Forecast:
    the last prediction before the deadline, reached where the final run of predictions with
    those points began. A question that never held points above zero has no reached time, so
    attempts that do not raise a total never move its tie-break time.
    """
    if not rules.counted:
        return None
    if rules.kind == "explanation":  # only the last version before the deadline counts
        before = sorted(((a, g) for a, g in graded if a.created_at < rules.deadline_at),
                        key=lambda ag: (ag[0].created_at, ag[0].id))
        graded = before[-1:]
    rows = sorted(((a, g) for a, g in graded if g.status == "graded"
                   and (rules.mode == "challenge" or a.created_at < rules.deadline_at)),
                  key=lambda ag: (ag[0].created_at, ag[0].id))
    if not rows:
        return None
    first = rows[0][0]
    if rules.mode == "challenge":
        best = max(g.points for _, g in rows)
        counted, _ = next((a, g) for a, g in rows if g.points == best)
        points, reached = best, counted.created_at if best > 0 else None
        solved = any(g.correct for _, g in rows)
    else:
        counted, last = rows[-1]
        points, solved = last.points, bool(last.correct)
        start = len(rows) - 1
        # Walk back over predictions with the same points, and over any replaced in the same
        # instant (those never held at any time).
        while start > 0 and (rows[start - 1][1].points == points
                             or rows[start - 1][0].created_at == rows[start][0].created_at):
            start -= 1
        # Before the first prediction the question held 0 points.
        reached = None if start == 0 and points == 0 else rows[start][0].created_at
    return ScoreRow(counted.user_id, rules.question_id, rules.puzzle_id, float(points), bool(solved),
                    counted.id, reached, first.created_at)


def user_total(user_id: int, scores: Sequence[ScoreRow]) -> TotalRow | None:
    """A scholar's total: the sum of their counted points; the tie-break time is when the
    total reached its current value (the latest reached time of their questions; for a
    zero total that never moved, their first counted answer)."""
    if not scores:
        return None
    reached = [s.reached_at for s in scores if s.reached_at is not None]
    return TotalRow(user_id, round(math.fsum(s.points for s in scores), POINTS_PLACES),
                    sum(1 for s in scores if s.solved), len(scores),
                    max(reached) if reached else min(s.answered_at for s in scores))
