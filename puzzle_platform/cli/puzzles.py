"""`manage.py puzzles sync|list`: puzzle folders -> database."""
from __future__ import annotations

from pathlib import Path

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import with_appcontext

from ..extensions import db
from ..models import Puzzle
from ..puzzle_files import PuzzleFileError, load_all
from ..puzzle_sync import SyncError, sync_puzzles


@click.group()
def puzzles() -> None:
    """Load, list and compute puzzles."""


@puzzles.command("sync")
@click.option("--dir", "root", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Puzzles folder (default: PUZZLES_DIR).")
@with_appcontext
def sync(root: Path | None) -> None:
    """Create or update puzzles from their folders (idempotent; all or nothing)."""
    root = root or Path(current_app.config["PUZZLES_DIR"])
    try:
        lines = sync_puzzles(load_all(root))
    except (PuzzleFileError, SyncError) as exc:
        raise click.ClickException(f"{exc} (nothing was changed)") from None
    for line in lines:
        click.echo(line)


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
