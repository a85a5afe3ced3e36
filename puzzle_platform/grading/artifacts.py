"""Storing computed ground truth: versioned, idempotent, and graded against on arrival."""
from __future__ import annotations

import hashlib
import json

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..models import Artifact, Figure, Question
from .refresh import Report, refresh_questions
from .truth import params_key


def content_key(recipe: str, params: dict, revision: str, code_version: str) -> str:
    """Same recipe, params, model revision and code version: the same computation.

    Re-running it (a duplicate delivery, a retry after a worker died) adds nothing; a new
    model revision or a new code version (bumped when the maths changes) is a new version
    of the truth and regrades.
    """
    blob = json.dumps([recipe, params, revision, code_version], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def _by_content(puzzle_id: int, figure_key: str, key: str) -> Artifact | None:
    return db.session.scalar(sa.select(Artifact).where(
        Artifact.puzzle_id == puzzle_id, Artifact.figure_key == figure_key, Artifact.content_key == key))


def figure_questions(puzzle_id: int, figure_key: str) -> list[int]:
    """The questions whose truth is a statistic of this figure."""
    return list(db.session.scalars(sa.select(Question.id).where(
        Question.puzzle_id == puzzle_id, Question.statistic.like(f"{figure_key}.%"))))


def store_artifact(puzzle_id: int, figure_key: str, *, statistics: dict, figure: dict | None,
                   provenance: dict, recipe: str, params: dict | None,
                   job_id: int | None = None) -> tuple[Artifact, Report]:
    """Add an artifact version (or find the identical one) for `recipe` and `params`.

    When it is computed for the figure's current params it becomes the figure's truth, and
    every question reading the figure is re-derived (under their locks). Does not commit:
    the caller commits it together with whatever made it (a job's success).
    """
    params = params or {}
    key = content_key(recipe, params, str(provenance.get("revision", "")),
                      str(provenance.get("code_version", "")))
    existing = _by_content(puzzle_id, figure_key, key)
    if existing is not None:
        return existing, Report()
    version = (db.session.scalar(sa.select(sa.func.max(Artifact.version)).where(
        Artifact.puzzle_id == puzzle_id, Artifact.figure_key == figure_key)) or 0) + 1
    artifact = Artifact(
        puzzle_id=puzzle_id, figure_key=figure_key, version=version, content_key=key,
        params_key=params_key(recipe, params), statistics=statistics, figure=figure,
        provenance=provenance,
        model=str(provenance.get("resolved_model") or provenance.get("model") or ""),
        revision=str(provenance.get("revision") or ""), weights=str(provenance.get("weights") or ""),
        seed=provenance.get("seed"), code_version=str(provenance.get("code_version") or ""),
        job_id=job_id,
    )
    try:
        with db.session.begin_nested():
            db.session.add(artifact)
    except IntegrityError:  # a concurrent worker stored the same result first
        existing = _by_content(puzzle_id, figure_key, key)
        if existing is None:
            raise
        return existing, Report()
    current = db.session.scalar(sa.select(Figure.params_key).where(
        Figure.puzzle_id == puzzle_id, Figure.key == figure_key))
    if current != artifact.params_key:
        return artifact, Report()  # kept for when the figure's params come back to these
    return artifact, refresh_questions(figure_questions(puzzle_id, figure_key),
                                       f"artifact {figure_key} v{version}")
