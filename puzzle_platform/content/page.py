"""What the puzzle page shows a given viewer; the one place that decides what is visible.

Before the reveal nothing here carries a truth value, an answer text or another scholar's
attempt: those are only added when `puzzle.is_revealed()` (or for mentors). A scholar sees
their own attempts as the log holds them, and the log holds no grade of a forecast before
its puzzle is scored at the reveal (grading/state.py), so there is nothing to hide there.
"""
from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import PurePath

import sqlalchemy as sa
from flask import current_app

from ..extensions import db
from ..grading.refresh import COUNTED
from ..grading.submissions import History
from .explanations import ExplanationView, explanation_view
from ..grading.truth import current_artifact, resolve_truth
from ..models import Job, Puzzle, Question, Score, Submission, User
from ..recipes import RecipeError, get_recipe
from ..timeutil import utcnow


@dataclass
class QuestionView:
    question: Question
    attempts: list[Submission] = field(default_factory=list)
    attempts_left: int = 0
    solved: bool = False
    wait_until: datetime | None = None
    current: Submission | None = None   # a forecast's prediction in force (the latest)
    truth: object = None
    distribution: dict | None = None
    explanation: ExplanationView | None = None  # kind "explanation" only (content/explanations.py)


NOT_AVAILABLE = "Figure not available yet."


@dataclass
class FigureView:
    key: str
    title: str
    figure: dict | None
    artifact_version: int | None
    computed_at: datetime | None
    provenance: dict | None
    job: Job | None
    sealed: bool = False  # computed, but held back until the reveal (it shows the truth)
    model_line: str | None = None  # the provenance line's model (see _model_line)

    def job_status(self, show_cause: bool) -> dict | None:
        """The figure's latest job as a viewer may see it. The cause of a failure (and the
        error a retry waits after) is the worker's own text, which can name models and files
        of the server: only mentors see it; anyone else sees NOT_AVAILABLE."""
        job = self.job
        if job is None:
            return None
        out = {"id": job.id, "status": job.status, "progress": job.progress, "stage": job.stage,
               "error": job.error, "message": None}
        if job.status == "failed":
            out["message"] = f"The computation failed: {job.error}" if show_cause else NOT_AVAILABLE
        if not show_cause:
            out["error"] = NOT_AVAILABLE if job.status == "failed" else None
            if job.status in ("queued", "failed"):  # "retrying in 10 s after: <error>", ...
                out["stage"] = "failed" if job.status == "failed" else "queued: waiting for a worker"
        return out


def sealed_figures(puzzle: Puzzle) -> set[str]:
    """Figures a scholar may not see before the reveal: those whose recipe plots its own
    statistics (every recipe but embedding_cosine, puzzle-local ones included) when a
    question of the puzzle reads one of them. Until the reveal their figure, caption and
    provenance would tell the truth."""
    if puzzle.is_revealed():
        return set()
    read = {q.statistic.partition(".")[0] for q in puzzle.questions if q.statistic}
    sealed = set()
    for fig in puzzle.figures:
        if fig.key in read:
            try:
                shows = get_recipe(fig.recipe).figure_shows_statistics
            except RecipeError:  # a puzzle-local recipe: its figure may show anything
                shows = True
            if shows:
                sealed.add(fig.key)
    return sealed


def figure_views(puzzle: Puzzle, show_truth: bool = False) -> list[FigureView]:
    """The puzzle's figures as a viewer may see them: `show_truth` (mentors) sees every
    computed figure; anyone else sees sealed figures (sealed_figures) as sealed."""
    sealed = set() if show_truth else sealed_figures(puzzle)
    views = []
    for fig in puzzle.figures:
        art = current_artifact(puzzle.id, fig.key)
        if fig.key in sealed and art is not None:
            views.append(FigureView(fig.key, fig.title, None, art.version, art.computed_at, None, None,
                                    sealed=True))
            continue
        job = None
        if art is None:
            job = db.session.scalar(sa.select(Job).where(Job.puzzle_id == puzzle.id, Job.figure_key == fig.key)
                                    .order_by(Job.id.desc()).limit(1))
        figure, provenance = _without_server_paths(art.figure, art.provenance) if art else (None, None)
        label = (fig.params or {}).get("label")
        if provenance is not None and label and not show_truth:
            provenance = _labelled(provenance, label)
        views.append(FigureView(fig.key, fig.title, figure, art.version if art else None,
                                art.computed_at if art else None, provenance, job,
                                model_line=_model_line(provenance, label if show_truth else None)))
    return views


def _labelled(provenance: dict, label: str) -> dict:
    """A scholar's provenance of a labelled figure: the model named by its label only (the
    figure and caption the worker drew name it so too)."""
    out = {k: v for k, v in provenance.items() if k not in ("resolved_model", "revision")}
    out["model"] = out["label"] = label
    return out


def _model_line(provenance: dict | None, mentor_label: str | None) -> str | None:
    """The model as the provenance line names it: the reference it resolved to and its
    revision; for mentors also the label scholars see instead."""
    if not provenance:
        return None
    line = str(provenance.get("resolved_model") or provenance.get("model") or "")
    if provenance.get("revision"):
        line += f" @ {str(provenance['revision'])[:10]}"
    if mentor_label:
        line += f" (shown to scholars as \"{mentor_label}\")"
    return line


def _without_server_paths(figure: dict | None, provenance: dict | None
                          ) -> tuple[dict | None, dict | None]:
    """Artifacts computed before local models were named models:<folder> hold the folder's
    absolute path (provenance, caption, title): shown as models:<folder name> instead."""
    paths = {str((provenance or {}).get(k) or "") for k in ("model", "resolved_model")}
    paths = sorted((p for p in paths if p.startswith(("/", "~"))), key=len, reverse=True)
    if not paths:
        return figure, provenance
    blob = json.dumps([figure, provenance])
    for path in paths:
        shown = "models:" + PurePath(path.rstrip("/")).name
        blob = blob.replace(json.dumps(path)[1:-1], json.dumps(shown)[1:-1])
    figure, provenance = json.loads(blob)
    return figure, provenance


def _distribution(question: Question, truth: object) -> dict | None:
    """A plotly histogram of the predictions that count (one per scholar), truth marked."""
    if question.kind not in ("numeric", "interval"):
        return None
    values = [p["value"] for (p,) in db.session.execute(
        sa.select(Submission.payload).join(Score, Score.submission_id == Submission.id)
        .where(Score.question_id == question.id)) if "value" in p]
    if not values:
        return None
    shapes = []
    if isinstance(truth, (int, float)):
        shapes.append({"type": "line", "x0": truth, "x1": truth, "yref": "paper", "y0": 0, "y1": 1,
                       "line": {"color": "crimson", "width": 2}})
    return {
        "data": [{"type": "histogram", "x": values, "nbinsx": 40, "name": "predictions"}],
        "layout": {"title": {"text": f"Everyone's counted predictions (n={len(values)}); red line: truth"},
                   "shapes": shapes, "height": 300, "margin": {"t": 40, "b": 40, "l": 40, "r": 10},
                   "xaxis": {"title": {"text": question.unit or "prediction"}}},
    }


def _own_attempts(puzzle: Puzzle, user: User) -> dict[int, list[Submission]]:
    by_question: dict[int, list[Submission]] = defaultdict(list)
    for sub in db.session.scalars(sa.select(Submission).where(
            Submission.user_id == user.id, Submission.puzzle_id == puzzle.id).order_by(Submission.id.desc())):
        by_question[sub.question_id].append(sub)
    return by_question


def question_views(puzzle: Puzzle, user: User | None, show_truth: bool) -> list[QuestionView]:
    views = []
    own = _own_attempts(puzzle, user) if user is not None else {}
    now = utcnow()
    for q in puzzle.questions:
        view = QuestionView(q)
        if user is not None:
            view.attempts = own.get(q.id, [])
            past = History([s for s in view.attempts if s.status in COUNTED])
            view.attempts_left = max(0, q.max_attempts - past.used)
            if q.is_forecast:
                view.current = next((s for s in view.attempts if s.status in COUNTED), None)
            else:
                view.solved = past.solved
                view.wait_until = past.wait_until(current_app.config["WRONG_ANSWER_WAITS"], now)
        if q.kind == "explanation":
            # The grading and the featured ones at the reveal only, even for mentors' own view.
            view.explanation = explanation_view(q, user, puzzle.is_revealed(), own.get(q.id, []))
        if show_truth:
            truth = resolve_truth(q)
            view.truth = truth.value if truth else None
            view.distribution = _distribution(q, view.truth)
        views.append(view)
    return views
