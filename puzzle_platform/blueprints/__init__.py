"""Blueprints, one per area of the site."""
from flask import Flask


def register_blueprints(app: Flask) -> None:
    from . import accounts, feed, leaderboard, puzzles, vendor

    for module in (accounts, feed, leaderboard, puzzles, vendor):
        app.register_blueprint(module.bp)
