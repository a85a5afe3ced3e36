#!/usr/bin/env python3
"""Command-line entry point: `python manage.py --help`."""
from flask.cli import FlaskGroup

from puzzle_platform import create_app

cli = FlaskGroup(create_app=create_app, add_default_commands=False,
                 help="Mech Interp Puzzles: run, worker, db, puzzles, grades, users, stats, recipes, models, notify.")

if __name__ == "__main__":
    cli()
