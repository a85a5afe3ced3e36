"""The schema exists only through Alembic; downgrade/upgrade round-trips on SQLite and PostgreSQL."""
import pytest
import sqlalchemy as sa
from flask_migrate import downgrade, upgrade

from puzzle_platform import create_app
from puzzle_platform.extensions import db
from tests.services import pg_url  # noqa: F401  (fixture)

TABLES = {"users", "api_tokens", "cohorts", "cohort_members", "puzzles", "questions", "figures",
          "artifacts", "submissions", "scores", "grade_changes", "jobs", "settings"}


def _round_trip(url: str, tmp_path) -> None:
    app = create_app({"SECRET_KEY": "t", "INSTANCE_PATH": str(tmp_path), "SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        upgrade()
        assert TABLES <= set(sa.inspect(db.engine).get_table_names())
        downgrade(revision="base")
        assert not TABLES & set(sa.inspect(db.engine).get_table_names())
        upgrade()
        assert TABLES <= set(sa.inspect(db.engine).get_table_names())
        db.engine.dispose()


def test_sqlite_round_trip(tmp_path):
    _round_trip(f"sqlite:///{tmp_path / 'm.sqlite3'}", tmp_path)


@pytest.mark.services
def test_postgres_round_trip(pg_url, tmp_path):  # noqa: F811
    _round_trip(pg_url, tmp_path)


def test_models_match_migrations(app):
    """No model change without a migration: autogenerate against the migrated DB is empty."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with app.app_context(), db.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": False})
        diff = compare_metadata(ctx, db.metadata)
    assert diff == []
