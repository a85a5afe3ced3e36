"""Blueprints, one per area of the site."""
from flask import Flask


def register_blueprints(app: Flask) -> None:
    from . import (accounts, admin, api, calibration, cohorts, discussion, explanations, feed, leaderboard, mentor,
                   mentor_answers, mentor_explanations, mentor_grading, ops, profile, puzzles, vendor)

    for module in (accounts, admin, api, calibration, cohorts, discussion, explanations, feed, leaderboard, mentor,
                   mentor_answers, mentor_explanations, mentor_grading, ops, profile, puzzles, vendor):
        app.register_blueprint(module.bp)
