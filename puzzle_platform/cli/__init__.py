"""Command-line interface, registered on the Flask app (manage.py is a FlaskGroup)."""
from __future__ import annotations

from flask import Flask


def register_cli(app: Flask) -> None:
    from .grades import grades
    from .models import models  # torch only inside `models fetch`
    from .notify import notify
    from .puzzles import puzzles
    from .recipes import recipes  # torch only inside `recipes run`
    from .run import run
    from .users import users

    app.cli.add_command(grades)
    app.cli.add_command(models)
    app.cli.add_command(notify)
    app.cli.add_command(puzzles)
    app.cli.add_command(users)
    app.cli.add_command(run)
    app.cli.add_command(recipes)
    from .worker import worker
    app.cli.add_command(worker)
    from .stats import stats  # plain click; imports torch only when a command runs
    app.cli.add_command(stats)
