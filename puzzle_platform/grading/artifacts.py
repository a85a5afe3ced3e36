"""Storing computed ground truth: versioned, idempotent, and graded against on arrival."""
from __future__ import annotations

import hashlib
import json

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from .truth import on_artifact
from ..models import Artifact, GradeChange


def content_key(recipe: str, params: dict, revision: str, code_version: str) -> str:
    """Same recipe, params, model revision and code version: the same computation.

    Re-running it (a duplicate delivery, a retry after a worker died) adds nothing; a new
    model revision or a new code version (bumped when the maths changes) is a new version
    of the truth and regrades.
    """
    blob = json.dumps([recipe, params, revision, code_version], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def store_artifact(puzzle_id: int, figure_key: str, *, statistics: dict, figure: dict | None,
                   provenance: dict, recipe: str = "", params: dict | None = None,
                   job_id: int | None = None) -> tuple[Artifact, list[GradeChange]]:
    """Add a new artifact version (or return the identical existing one) and (re)grade. Commits."""
    key = content_key(recipe, params or {}, str(provenance.get("revision", "")),
                      str(provenance.get("code_version", "")))
    existing = db.session.scalar(sa.select(Artifact).where(
        Artifact.puzzle_id == puzzle_id, Artifact.figure_key == figure_key, Artifact.content_key == key))
    if existing is not None:
        return existing, []
    version = (db.session.scalar(sa.select(sa.func.max(Artifact.version)).where(
        Artifact.puzzle_id == puzzle_id, Artifact.figure_key == figure_key)) or 0) + 1
    artifact = Artifact(
        puzzle_id=puzzle_id, figure_key=figure_key, version=version, content_key=key,
        statistics=statistics, figure=figure, provenance=provenance,
        model=str(provenance.get("resolved_model") or provenance.get("model") or ""),
        revision=str(provenance.get("revision") or ""), weights=str(provenance.get("weights") or ""),
        seed=provenance.get("seed"), code_version=str(provenance.get("code_version") or ""),
        job_id=job_id,
    )
    db.session.add(artifact)
    try:
        db.session.flush()
    except IntegrityError:  # a concurrent worker stored the same result first
        db.session.rollback()
        existing = db.session.scalar(sa.select(Artifact).where(
            Artifact.puzzle_id == puzzle_id, Artifact.figure_key == figure_key, Artifact.content_key == key))
        if existing is None:
            raise
        return existing, []
    changes = on_artifact(artifact)
    db.session.commit()
    return artifact, changes
