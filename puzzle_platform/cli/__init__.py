"""Command-line interface, registered on the Flask app (manage.py is a FlaskGroup)."""
from __future__ import annotations

from flask import Flask


def register_cli(app: Flask) -> None:
    from .puzzles import puzzles
    from .run import run
    from .users import users

    app.cli.add_command(puzzles)
    app.cli.add_command(users)
    app.cli.add_command(run)
    try:
        from .worker import worker
        app.cli.add_command(worker)
    except ImportError:  # pragma: no cover - worker module arrives with the job queue
        pass
    try:  # TEMP until stats lands
        from .stats import stats  # plain click; imports torch only when a command runs
        app.cli.add_command(stats)
    except ImportError:
        pass
