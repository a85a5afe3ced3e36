"""Publishing with checks, deleting drafts, and "duplicate as next week".

Publishing and deleting decide under the puzzle's lock (grading/locks.lock_puzzles), so what
was checked is what is committed: an edit that makes a figure uncomputed, or an attempt
arriving (grading takes the same lock in SHARE mode), waits for us or is seen by us.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa

from ..extensions import db
from ..grading.truth import current_artifact, resolve_truth
from ..models import (Artifact, Figure, Job, Notification, Post, Puzzle, Question, RubricItem,
                      Submission)
from .authoring import AuthoringError, lock_fresh, set_published
from .files import FOLDER_RE, MAX_NUMBER


class PublishRefused(AuthoringError):
    """Publishing (or deleting) was refused as things stand (409); nothing was changed."""


@dataclass
class FigureState:
    """Where a figure's computation stands, as a mentor may see it (failure causes included)."""

    key: str
    title: str
    state: str                      # computed | queued | running | failed | not computed
    computed_at: datetime | None = None
    progress: int = 0
    reason: str = ""

    @property
    def ready(self) -> bool:
        return self.state == "computed"


@dataclass
class QuestionState:
    key: str
    source: str                     # "literal", "rubric" (explanations) or the statistic it reads
    truth: object = None
    known: bool = False

    @property
    def ready(self) -> bool:
        """Answers to it can be graded: a rubric, or a truth in force (a statistic its computed
        figure does not hold, e.g. one typed by hand, leaves every answer pending)."""
        return self.source == "rubric" or self.known


def figure_state(puzzle: Puzzle, fig: Figure) -> FigureState:
    art = current_artifact(puzzle.id, fig.key)
    if art is not None:
        return FigureState(fig.key, fig.title, "computed", art.computed_at)
    job = db.session.scalar(sa.select(Job).where(Job.puzzle_id == puzzle.id, Job.figure_key == fig.key)
                            .order_by(Job.id.desc()).limit(1))
    if job is None or job.status not in ("queued", "running", "failed"):
        return FigureState(fig.key, fig.title, "not computed")
    return FigureState(fig.key, fig.title, job.status, progress=job.progress or 0,
                       reason=(job.error or "unknown error") if job.status == "failed" else "")


def publish_check(puzzle: Puzzle) -> tuple[list[FigureState], list[QuestionState]]:
    """Every figure's state and every question's truth state (mentors only: truths shown)."""
    figures = [figure_state(puzzle, fig) for fig in puzzle.figures]
    questions = []
    for q in puzzle.questions:
        truth = resolve_truth(q)
        source = ("rubric" if q.kind == "explanation" else
                  "literal" if q.truth_literal is not None or not q.statistic else q.statistic)
        questions.append(QuestionState(q.key, source, truth.value if truth else None, truth is not None))
    return figures, questions


def publish_puzzle(puzzle: Puzzle, override: bool) -> None:
    """Publish unless a figure is not computed or a question has no truth (PublishRefused), or
    `override` says the mentor accepts that scholars see "Figure not available yet" and
    pending answers meanwhile."""
    lock_fresh(puzzle)
    figures, questions = publish_check(puzzle)
    missing = [f for f in figures if not f.ready]
    if missing and not override:
        db.session.rollback()
        raise PublishRefused("not published: figure(s) " + ", ".join(f"{f.key} ({f.state})" for f in missing)
                             + " are not computed; wait for them, or tick 'Publish anyway'")
    unknown = [q for q in questions if not q.ready]
    if unknown and not override:
        db.session.rollback()
        raise PublishRefused("not published: question(s) " + ", ".join(f"{q.key} ({q.source})" for q in unknown)
                             + " have no truth (their figure does not hold that statistic); fix the "
                             "statistic, or tick 'Publish anyway'")
    set_published(puzzle, True)  # same lock again (re-entrant), commits


def _activity(puzzle: Puzzle) -> list[str]:
    """What scholars (or mentors) have done on the puzzle; a puzzle with any of it is kept."""
    questions = sa.select(Question.id).where(Question.puzzle_id == puzzle.id).scalar_subquery()
    subs = db.session.scalar(sa.select(sa.func.count()).select_from(Submission).where(
        sa.or_(Submission.puzzle_id == puzzle.id, Submission.question_id.in_(questions))))
    posts = db.session.scalar(sa.select(sa.func.count()).select_from(Post).where(Post.puzzle_id == puzzle.id))
    return [f"{n} {what}" for n, what in ((subs, "submission(s)"), (posts, "discussion post(s)")) if n]


def file_folder(puzzle: Puzzle, root: Path) -> str | None:
    """The name of the folder under `root` that holds this puzzle's slug, if any."""
    if not root.is_dir():
        return None
    for folder in sorted(root.iterdir()):
        match = FOLDER_RE.match(folder.name)
        if folder.is_dir() and match and match.group(2) == puzzle.slug:
            return folder.name
    return None


def delete_draft(puzzle: Puzzle, typed_slug: str, puzzles_root: Path) -> None:
    """Delete an unpublished puzzle nobody has answered, with everything that belongs to it.

    AuthoringError (400) when the confirmation does not match, PublishRefused (409) when it is
    published, has any submission or post, or still has its folder (the next sync would bring
    it back). The check and the delete are one transaction under the puzzle's lock."""
    if typed_slug.strip() != puzzle.slug:
        raise AuthoringError(f"not deleted: type the slug {puzzle.slug} to confirm")
    if folder := file_folder(puzzle, puzzles_root):  # a file puzzle, or an exported web one
        raise PublishRefused(f"not deleted: remove its folder {folder}/ first, or the next sync brings it back")
    pid = puzzle.id
    lock_fresh(puzzle)
    reasons = (["it is published (unpublish it first)"] if puzzle.published else []) + _activity(puzzle)
    if reasons:
        db.session.rollback()
        raise PublishRefused("not deleted: " + "; ".join(reasons) + ". Only unanswered drafts can be deleted.")
    questions = sa.select(Question.id).where(Question.puzzle_id == pid).scalar_subquery()
    # Children first (foreign keys are enforced on both databases); artifacts before jobs. No
    # submission means no scores, grade changes or explanation grades either.
    for stmt in (
        sa.delete(Notification).where(Notification.ref == f"puzzle:{pid}"),
        sa.delete(RubricItem).where(RubricItem.question_id.in_(questions)),
        sa.delete(Artifact).where(Artifact.puzzle_id == pid),
        sa.delete(Job).where(Job.puzzle_id == pid),
        sa.delete(Figure).where(Figure.puzzle_id == pid),
        sa.delete(Question).where(Question.puzzle_id == pid),
        sa.delete(Puzzle).where(Puzzle.id == pid),
    ):
        db.session.execute(stmt.execution_options(synchronize_session=False))
    db.session.commit()


def next_week(puzzle: Puzzle) -> tuple[int, str]:
    """The next free number (max + 1) and a free slug for a copy of `puzzle` as next week's:
    a trailing "-<digits>" (or "-week-<digits>") of the slug is replaced by the new number."""
    number = min(MAX_NUMBER, (db.session.scalar(sa.select(sa.func.max(Puzzle.number))) or 0) + 1)
    stem = re.sub(r"(-week)?-[0-9]+$", "", puzzle.slug)[:60] or "puzzle"
    taken = set(db.session.scalars(sa.select(Puzzle.slug).where(Puzzle.slug.startswith(stem))))
    slug, n = f"{stem}-{number}", 2
    while slug in taken:
        slug, n = f"{stem}-{number}-{n}", n + 1
    return number, slug
