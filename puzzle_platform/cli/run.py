"""`manage.py run`: the embedded default in one command.

Migrates the database, syncs the puzzle folders, makes sure an admin exists, starts a local
worker process (unless --no-worker) and serves the site. Production uses gunicorn and
`manage.py worker` instead (see the README).

SIGTERM, SIGINT (Ctrl-C) and SIGHUP all stop the server the same way: the serve loop exits
and the worker is stopped (jobs/local.py), never left behind as an orphan.
"""
from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext
from flask_migrate import upgrade


@click.command("run")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--no-setup", is_flag=True, help="Skip migrate + puzzle sync + admin check.")
@click.option("--no-worker", is_flag=True, help="Do not start the local worker process.")
@click.option("--no-compute", is_flag=True,
              help="Do not queue jobs for released puzzles' figures that have no artifact yet.")
@click.option("--debug", is_flag=True, help="Flask debug mode with the reloader.")
@with_appcontext
def run(host: str, port: int, no_setup: bool, no_worker: bool, no_compute: bool, debug: bool) -> None:
    """Serve the platform (embedded default: SQLite + a local worker, no external server)."""
    ctx = click.get_current_context()
    if not no_setup:
        upgrade()
        from ..logging_setup import configure_logging
        configure_logging(current_app)  # Alembic's env.py replaced the logging handlers
        from .puzzles import sync
        from .users import ensure_admin
        ctx.invoke(sync)
        ctx.invoke(ensure_admin)
    from ..jobs.local import (StopRequested, ignore_stop_signals, raise_on_stop_signals,
                              start_local_worker, stop_local_worker)

    app = current_app._get_current_object()
    worker_proc = None
    raise_on_stop_signals()  # before the worker exists, so that no signal can orphan it
    try:
        if not no_worker:
            worker_proc = start_local_worker(app)
            if not no_compute:
                _queue_missing_figures()
        click.echo(f"serving on http://{host}:{port}/  (Ctrl-C to stop)")
        from werkzeug.serving import run_simple
        app.debug = debug
        run_simple(host, port, app, use_reloader=debug, use_debugger=debug, threaded=True)
    except StopRequested:
        pass  # a signal before the serve loop started; inside it, run_simple returns instead
    finally:
        ignore_stop_signals()
        if worker_proc is not None:
            stop_local_worker(worker_proc, float(app.config["WORKER_SHUTDOWN_SECONDS"]), say=_say)


def _say(line: str) -> None:
    try:
        click.echo(line)
    except OSError:  # the terminal is gone (SIGHUP): nothing to tell
        pass


def _queue_missing_figures() -> None:
    """Released puzzles whose figures were never computed get a job (shown on their page)."""
    import sqlalchemy as sa

    from ..extensions import db
    from ..grading.truth import current_artifact
    from ..jobs.queue import enqueue_figure
    from ..models import Job, Puzzle

    for puzzle in db.session.scalars(sa.select(Puzzle)):
        if not puzzle.is_released():
            continue
        for fig in puzzle.figures:
            tried = db.session.scalar(sa.select(Job.id).where(
                Job.puzzle_id == puzzle.id, Job.figure_key == fig.key).limit(1))
            if current_artifact(puzzle.id, fig.key) is None and tried is None:
                job = enqueue_figure(puzzle, fig)
                click.echo(f"queued job {job.id}: {puzzle.slug} figure {fig.key}")
