"""Apply validated puzzle folders to the database: idempotent, all or nothing.

Returns what changed, line by line. A changed puzzle is locked with its questions first (see
grading/locks.py); every question whose grading could change (its definition, its figure's
params and so its truth, the puzzle's schedule) is re-derived from the log in the same
transaction, and each change of points is logged. A question with attempts is never deleted.
Jobs computing a figure for params it no longer has are superseded.
"""
from __future__ import annotations

import sqlalchemy as sa

from ..extensions import db
from ..grading.generation import SCHEDULE, SCOREBOARD, bump_generation
from ..grading.locks import lock_puzzles
from ..grading.refresh import refresh_questions
from ..grading.truth import params_key
from ..jobs.queue import supersede_stale_jobs
from ..models import Figure, Puzzle, Question, Submission
from ..timeutil import utcnow
from ..grading.explanations import set_rubric_items
from .files import PuzzleSpec

PUZZLE_FIELDS = ("number", "title", "summary", "statement_md", "answer_md", "release_at",
                 "deadline_at", "reveal_at")
QUESTION_FIELDS = ("prompt_md", "kind", "mode", "grader", "grader_params", "points", "max_attempts",
                   "statistic", "truth_literal", "unit", "choices", "word_budget")
GRADING_FIELDS = {"grader", "grader_params", "points", "statistic", "truth_literal", "kind", "mode"}
SCHEDULE_FIELDS = {"release_at", "deadline_at", "reveal_at"}
FIGURE_FIELDS = ("title", "recipe", "params")


class SyncError(RuntimeError):
    """The files are valid but cannot be applied (e.g. they would drop attempts)."""


def _assign(obj, spec_obj, fields: tuple[str, ...]) -> list[str]:
    changed = []
    for name in fields:
        new = getattr(spec_obj, name)
        if getattr(obj, name) != new:
            setattr(obj, name, new)
            changed.append(name)
    return changed


def _sync_children(puzzle: Puzzle, spec: PuzzleSpec, lines: list[str]) -> list[Question]:
    """Create/update/delete figures and questions; return questions to re-derive."""
    to_regrade: list[Question] = []
    figures = {f.key: f for f in puzzle.figures}
    moved: set[str] = set()  # figures whose params changed: their truth may have changed
    for pos, fspec in enumerate(spec.figures):
        fig = figures.pop(fspec.key, None)
        if fig is None:
            puzzle.figures.append(Figure(key=fspec.key, position=pos, title=fspec.title,
                                         recipe=fspec.recipe, params=fspec.params,
                                         params_key=params_key(fspec.recipe, fspec.params)))
            lines.append(f"  + figure {fspec.key}")
            moved.add(fspec.key)
            continue
        fig.position = pos
        if changed := _assign(fig, fspec, FIGURE_FIELDS):
            lines.append(f"  ~ figure {fspec.key}: {', '.join(changed)}")
            key = params_key(fig.recipe, fig.params)
            if key != fig.params_key:
                fig.params_key = key
                moved.add(fig.key)
                if superseded := supersede_stale_jobs(puzzle.id, fig.key, key):
                    lines.append(f"  superseded job(s) {', '.join(map(str, superseded))} of figure {fig.key}")
    for fig in figures.values():
        puzzle.figures.remove(fig)
        lines.append(f"  - figure {fig.key}")
        moved.add(fig.key)
        supersede_stale_jobs(puzzle.id, fig.key, None)

    questions = {q.key: q for q in puzzle.questions}
    for pos, qspec in enumerate(spec.questions):
        q = questions.pop(qspec.key, None)
        if q is None:
            q = Question(key=qspec.key, position=pos)
            _assign(q, qspec, QUESTION_FIELDS)
            puzzle.questions.append(q)
            lines.append(f"  + question {qspec.key}")
            if qspec.rubric:
                db.session.flush()  # the rubric's rows need the question's id
                set_rubric_items(q, qspec.rubric)
            continue
        q.position = pos
        if changed := _assign(q, qspec, QUESTION_FIELDS):
            lines.append(f"  ~ question {qspec.key}: {', '.join(changed)}")
            if GRADING_FIELDS & set(changed):
                to_regrade.append(q)
        if (qspec.rubric or q.kind == "explanation") and set_rubric_items(q, qspec.rubric):
            lines.append(f"  ~ question {qspec.key}: rubric (answers graded with it are re-derived)")
            if q not in to_regrade:
                to_regrade.append(q)
        if q.figure_key in moved and q not in to_regrade:
            to_regrade.append(q)
    for q in questions.values():
        n = db.session.scalar(sa.select(sa.func.count()).select_from(Submission)
                              .where(Submission.question_id == q.id))
        if n:
            raise SyncError(f"{spec.folder / 'puzzle.toml'}: question {q.key!r} has {n} attempt(s) "
                            "and cannot be removed; keep it in the file")
        puzzle.questions.remove(q)
        lines.append(f"  - question {q.key}")
    return to_regrade


def sync_puzzles(specs: list[PuzzleSpec], new_attrs: dict | None = None) -> list[str]:
    """Apply all specs in one transaction; returns the change report. Rolls back on error.

    `new_attrs` are set on puzzles this call creates (the mentor area: origin="web", its
    author, unpublished), so a web-authored puzzle is saved by exactly the sync's rules.
    """
    lines: list[str] = []
    try:
        by_slug = {p.slug: p for p in db.session.scalars(sa.select(Puzzle))}
        numbers = {p.number: p.slug for p in by_slug.values()}
        regrade: list[Question] = []
        changing = [by_slug[s.slug].id for s in specs
                    if s.slug in by_slug and by_slug[s.slug].source_hash != s.source_hash()]
        lock_puzzles(changing)  # before anything changes: see grading/locks.py
        for puzzle_id in changing:
            db.session.refresh(db.session.get(Puzzle, puzzle_id))
        for spec in specs:
            puzzle = by_slug.get(spec.slug)
            owner = numbers.get(spec.number)
            if owner is not None and owner != spec.slug and owner not in {s.slug for s in specs}:
                raise SyncError(f"{spec.folder}: puzzle number {spec.number} is taken by '{owner}' in the database")
            digest = spec.source_hash()
            if puzzle is not None and puzzle.source_hash == digest:
                lines.append(f"= {spec.number:02d}-{spec.slug}: unchanged")
                continue
            if puzzle is None:
                puzzle = Puzzle(slug=spec.slug, **(new_attrs or {}))
                db.session.add(puzzle)
                _assign(puzzle, spec, PUZZLE_FIELDS)
                lines.append(f"+ {spec.number:02d}-{spec.slug}: created")
            else:
                changed = _assign(puzzle, spec, PUZZLE_FIELDS)
                lines.append(f"~ {spec.number:02d}-{spec.slug}: updated {', '.join(changed) or 'questions/figures'}")
                if SCHEDULE_FIELDS & set(changed):
                    if puzzle.scored_at is not None and puzzle.reveal_at > utcnow():
                        puzzle.scored_at = None  # the reveal moved back into the future
                    regrade += [q for q in puzzle.questions]
            puzzle.source_hash = digest
            db.session.flush()
            regrade += _sync_children(puzzle, spec, lines)
        db.session.flush()
        by_id = {q.id: q for q in regrade}
        # One refresh for all of them: users are then locked once, in order (grading/locks.py).
        report = refresh_questions(by_id, "question definition changed")
        for qid, question in sorted(by_id.items()):
            if report.by_question.get(qid):
                lines.append(f"  regraded {report.by_question[qid]} attempt(s) of {question.key}")
        if any(not line.startswith("= ") for line in lines):
            bump_generation(SCOREBOARD, SCHEDULE)  # titles, schedules, questions: caches drop them
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return lines
