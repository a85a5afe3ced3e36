"""`manage.py puzzles sync|list`: puzzle folders -> database."""
from __future__ import annotations

from pathlib import Path

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import with_appcontext

from ..extensions import db
from ..models import Puzzle
from ..content.files import PuzzleFileError, load_all
from ..content.sync import SyncError, sync_puzzles


@click.group()
def puzzles() -> None:
    """Load, list and compute puzzles."""


@puzzles.command("sync")
@click.option("--dir", "root", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Puzzles folder (default: PUZZLES_DIR).")
@with_appcontext
def sync(root: Path | None) -> None:
    """Create or update puzzles from their folders (idempotent; all or nothing)."""
    from ..content.model_check import NO_WORKER, check_figures
    from ..grading.truth import current_artifact
    from ..jobs.worker_models import reported_models

    root = root or Path(current_app.config["PUZZLES_DIR"])
    try:
        specs = load_all(root)
        lines = sync_puzzles(specs)
    except (PuzzleFileError, SyncError) as exc:
        raise click.ClickException(f"{exc} (nothing was changed)") from None
    for line in lines:
        click.echo(line)
    # Never a refusal here: an operator may sync before starting the workers. Only figures
    # still to compute matter (a computed one needs no worker).
    report, problems = reported_models(), {}
    for spec in specs:
        puzzle = db.session.scalar(sa.select(Puzzle).where(Puzzle.slug == spec.slug))
        todo = [f for f in spec.figures if puzzle is None or current_artifact(puzzle.id, f.key) is None]
        check = check_figures(todo, report)
        for problem in check.refusals + check.warnings:
            problems.setdefault(problem if problem == NO_WORKER else f"{spec.slug}: {problem}", None)
    for problem in problems:
        click.echo(f"warning: {problem}", err=True)


@puzzles.command("list")
@with_appcontext
def list_() -> None:
    """Print slug, title, state and question keys of every puzzle."""
    rows = db.session.scalars(sa.select(Puzzle).order_by(Puzzle.number)).all()
    if not rows:
        click.echo("no puzzles; run `manage.py puzzles sync`")
    for p in rows:
        keys = ", ".join(q.key for q in p.questions)
        click.echo(f"{p.number:>3}  {p.slug:<40} {p.state():<9} {p.title}  [{keys}]")


@puzzles.command("export")
@click.argument("slug")
@click.option("--dir", "root", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder to write NN-slug/ into (default: PUZZLES_DIR).")
@with_appcontext
def export(slug: str, root: Path | None) -> None:
    """Write SLUG (e.g. authored on the web) to NN-slug/, which `puzzles sync` reads back unchanged."""
    from ..content.authoring import AuthoringError, export_puzzle

    puzzle = db.session.scalar(sa.select(Puzzle).where(Puzzle.slug == slug))
    if puzzle is None:
        raise click.ClickException(f"no puzzle {slug!r}; see `manage.py puzzles list`")
    try:
        folder = export_puzzle(puzzle, root or Path(current_app.config["PUZZLES_DIR"]))
    except AuthoringError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"exported {slug} to {folder}")


@puzzles.command("compute")
@click.argument("slug", required=False)
@click.option("--all", "all_", is_flag=True,
              help="Every puzzle's figures not computed yet (e.g. after a sync); computed ones are left alone.")
@click.option("--wait", is_flag=True, help="Wait for the jobs and print their progress.")
@click.option("--inline", is_flag=True, help="Run the jobs in this process (no broker or worker).")
@click.option("--timeout", default=3600.0, show_default=True, help="Seconds to wait with --wait.")
@with_appcontext
def compute(slug: str | None, all_: bool, wait: bool, inline: bool, timeout: float) -> None:
    """Compute SLUG's figures (all of them, again), or with --all every puzzle's figures that
    are not computed yet nor queued (ground truth) on a worker; graded attempts follow."""
    import time

    from ..jobs.queue import enqueue_missing, enqueue_puzzle
    from ..models import Job

    if all_ == bool(slug):
        raise click.ClickException("name one puzzle (SLUG) or --all")
    if all_:
        chosen = [p for p in db.session.scalars(sa.select(Puzzle).order_by(Puzzle.number)) if p.figures]
        if not chosen:
            raise click.ClickException("no puzzle has figures to compute; run `manage.py puzzles sync`")
    else:
        puzzle = db.session.scalar(sa.select(Puzzle).where(Puzzle.slug == slug))
        if puzzle is None:
            raise click.ClickException(f"no puzzle {slug!r}; see `manage.py puzzles list`")
        if not puzzle.figures:
            raise click.ClickException(f"puzzle {slug!r} has no figures to compute")
        chosen = [puzzle]
    if inline:
        current_app.config["CELERY_BROKER_URL"] = "memory://"
    ids: list[int] = []
    for puzzle in chosen:
        jobs = enqueue_missing(puzzle) if all_ else enqueue_puzzle(puzzle)
        ids += [j.id for j in jobs]
        if jobs:
            click.echo(f"queued job(s) {', '.join(str(j.id) for j in jobs)} for {puzzle.slug}")
        else:
            click.echo(f"{puzzle.slug}: every figure is computed or queued already")
    if inline:
        from ..jobs.runner import execute_job
        for job_id in ids:
            execute_job(job_id)
    elif not wait:
        return
    deadline = time.monotonic() + timeout
    last: dict[int, tuple] = {}
    while True:
        db.session.expire_all()
        rows = db.session.scalars(sa.select(Job).where(Job.id.in_(ids))).all()
        for j in rows:
            state = (j.status, j.progress, j.stage)
            if last.get(j.id) != state:
                click.echo(f"job {j.id} [{j.figure_key}] {j.status} {j.progress:>3}% {j.stage}")
                last[j.id] = state
        if all(j.status in ("succeeded", "failed", "superseded") for j in rows):
            break
        if time.monotonic() > deadline:
            raise click.ClickException(f"timed out after {timeout:g} s; is a worker running (`manage.py worker`)?")
        time.sleep(1)
    failed = [j for j in rows if j.status in ("failed", "superseded")]
    if failed:
        raise click.ClickException("; ".join(
            f"job {j.id} [{j.figure_key}] {j.status}: {j.error or j.stage}" for j in failed))
