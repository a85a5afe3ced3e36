"""Mech Interp Puzzles: the Flask platform (named puzzle_platform: `platform` would shadow
the standard library module of that name and break `import sqlalchemy`)."""
from __future__ import annotations

import os

from flask import Flask


def create_app(test_config: dict | None = None) -> Flask:
    """Application factory: configuration from the environment, overridable by tests."""
    from . import config, errors, extensions, logging_setup, security, templating
    from .blueprints import register_blueprints
    from .cli import register_cli

    app = Flask(__name__, instance_path=os.environ.get("PUZZLES_INSTANCE") or None,
                instance_relative_config=True)
    if test_config and "INSTANCE_PATH" in test_config:
        app.instance_path = test_config["INSTANCE_PATH"]
    app.config.from_mapping(config.load_config(app.instance_path, test_config))

    extensions.db.init_app(app)
    extensions.migrate.init_app(app, extensions.db, render_as_batch=True,
                                directory=str(config.REPO_ROOT / "migrations"))
    extensions.login_manager.init_app(app)
    extensions.csrf.init_app(app)

    logging_setup.init_app(app)
    security.init_app(app)
    templating.init_app(app)
    errors.init_app(app)
    register_blueprints(app)
    register_cli(app)

    from . import models  # noqa: F401  (register mappers)
    from .grading.generation import init_app as init_generation
    init_generation()
    from .sqlite import configure_sqlite
    with app.app_context():
        configure_sqlite(extensions.db.engine)
    return app
