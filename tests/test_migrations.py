"""The schema exists only through Alembic: round trips on SQLite and PostgreSQL, models equal
to the migrations (`manage.py db check`), and upgrades of populated databases that keep
their data: from the landed 0001, and from an early edition of 0001 that lacked tables and
columns added to it later (revision 0002 repairs those)."""
from __future__ import annotations

import shutil
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask_migrate import downgrade, upgrade

from puzzle_platform import create_app
from puzzle_platform.extensions import db
from tests.services import pg_url  # noqa: F401  (fixture)

REPO = Path(__file__).resolve().parent.parent
TABLES = {"users", "api_tokens", "cohorts", "cohort_members", "puzzles", "questions", "figures",
          "artifacts", "submissions", "scores", "grade_changes", "jobs", "settings", "counters"}
T = datetime(2026, 11, 20, 12, 0, 0)


def _app(url: str, tmp_path):
    return create_app({"SECRET_KEY": "t", "INSTANCE_PATH": str(tmp_path / "instance"),
                       "SQLALCHEMY_DATABASE_URI": url})


def _round_trip(url: str, tmp_path) -> None:
    app = _app(url, tmp_path)
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


def _db_check(url: str, tmp_path) -> None:
    """`manage.py db check` exits non-zero when models and migrations differ."""
    result = _app(url, tmp_path).test_cli_runner().invoke(args=["db", "check"])
    assert result.exit_code == 0, result.output


def test_db_check_finds_no_difference_between_models_and_migrations(tmp_path):
    url = f"sqlite:///{tmp_path / 'c.sqlite3'}"
    with _app(url, tmp_path).app_context():
        upgrade()
    _db_check(url, tmp_path)


@pytest.mark.services
def test_db_check_on_postgres(pg_url, tmp_path):  # noqa: F811
    with _app(pg_url, tmp_path).app_context():
        upgrade()
        db.engine.dispose()
    _db_check(pg_url, tmp_path)


def test_models_match_migrations(app):
    """No model change without a migration, types included (as `db check` compares them)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with app.app_context(), db.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, db.metadata)
    assert diff == []


# --- upgrading populated databases ------------------------------------------------------------

def _populate(conn) -> None:
    """What a running 0001-era site held: a mentor and two scholars, a token, a puzzle with a
    figure, its job and artifact, a numeric and a choice question, graded attempts with an
    override, scores and totals."""
    meta = sa.MetaData()
    meta.reflect(conn)
    ins = {name: (lambda name: lambda **row: conn.execute(meta.tables[name].insert().values(**row)))(name)
           for name in meta.tables}
    for uid, name, role in ((1, "mona", "mentor"), (2, "ann", "scholar"), (3, "ben", "scholar")):
        ins["users"](id=uid, username=name, email=f"{name}@example.org", password_hash="x", role=role,
                     display_name=name.title(), created_at=T)
    if "expires_at" in meta.tables["api_tokens"].c:
        ins["api_tokens"](id=1, user_id=2, name="nb", prefix="mip_abc", token_hash="h" * 64, created_at=T,
                          expires_at=None)
    else:
        ins["api_tokens"](id=1, user_id=2, name="nb", prefix="mip_abc", token_hash="h" * 64, created_at=T)
    ins["puzzles"](id=1, slug="p", number=1, title="P", summary="", statement_md="s", answer_md="a",
                   release_at=T - timedelta(days=3), deadline_at=T - timedelta(days=2),
                   reveal_at=T - timedelta(days=1), published=True, source_hash=None, created_at=T, updated_at=T,
                   **({"origin": "files"} if "origin" in meta.tables["puzzles"].c else {}))
    params = {"model": "tiny", "weights": "raw"}
    ins["figures"](id=1, puzzle_id=1, key="fig", position=0, title="F", recipe="embedding_cosine", params=params)
    ins["jobs"](id=1, kind="figure", params={"recipe": "embedding_cosine", "params": params}, puzzle_id=1,
                figure_key="fig", status="succeeded", progress=100, stage="done", attempts=1, max_attempts=3,
                created_at=T)
    ins["artifacts"](id=1, puzzle_id=1, figure_key="fig", version=1, content_key="c" * 64,
                     statistics={"mean_cos": 0.5}, figure=None, provenance={"revision": "r1"}, model="tiny",
                     revision="r1", weights="raw", code_version="v", computed_at=T, job_id=1)
    for qid, key, kind, grader, gp in ((1, "mean", "numeric", "interval", {"scale": 0.5}),
                                       (2, "pick", "choice", "choice", {"options": ["a", "b"]})):
        ins["questions"](id=qid, puzzle_id=1, key=key, position=qid, prompt_md="?", kind=kind, grader=grader,
                         grader_params=gp, points=10.0, max_attempts=3,
                         statistic="fig.mean_cos" if kind == "numeric" else None,
                         truth_literal=None if kind == "numeric" else {"value": "b"}, unit="",
                         choices=None if kind == "numeric" else ["a", "b"])
    overrides = "override_points" in meta.tables["submissions"].c
    for sid, uid, qid, payload, points, correct, override in (
            (1, 2, 1, {"value": 0.5, "lower": None, "upper": None}, 10.0, True, None),
            (2, 3, 1, {"value": 0.9, "lower": None, "upper": None}, 2.0, False, 10.0),
            (3, 2, 2, {"choice": "b"}, 10.0, True, None)):
        extra = {"override_points": override, "override_reason": "kind" if override else None} if overrides else {}
        ins["submissions"](id=sid, user_id=uid, question_id=qid, puzzle_id=1, payload=payload, status="graded",
                           attempt_no=1, score=points / 10, points=points, correct=correct, feedback="f",
                           artifact_id=1 if qid == 1 else None, source="web", created_at=T - timedelta(days=2, hours=12),
                           graded_at=T - timedelta(days=2, hours=12), **extra)
    for sid, uid, qid, points in ((1, 2, 1, 10.0), (2, 3, 1, 2.0), (3, 2, 2, 10.0)):
        ins["scores"](user_id=uid, question_id=qid, puzzle_id=1, points=points, submission_id=sid,
                      reached_at=T - timedelta(days=2, hours=12), solved=points == 10.0)
    if "user_totals" in meta.tables:
        for uid, points, solved, answered in ((2, 20.0, 2, 2), (3, 2.0, 0, 1)):
            ins["user_totals"](user_id=uid, points=points, reached_at=T - timedelta(days=2, hours=12),
                               solved=solved, answered=answered)


def _check_upgraded(url: str, tmp_path, overridden: bool = True) -> None:
    """The data survived, the new columns were filled, and the app can work on it (`overridden`:
    the database could hold ben's override)."""
    app = _app(url, tmp_path)
    with app.app_context():
        upgrade()
        rows = lambda sql: db.session.execute(sa.text(sql)).all()  # noqa: E731
        assert rows("SELECT username, role FROM users ORDER BY id") == [("mona", "mentor"), ("ann", "scholar"),
                                                                       ("ben", "scholar")]
        assert rows("SELECT key, mode FROM questions ORDER BY id") == [("mean", "forecast"), ("pick", "challenge")]
        fig_key, art_key = rows("SELECT f.params_key, a.params_key FROM figures f, artifacts a")[0]
        assert fig_key == art_key and len(fig_key) == 64  # the artifact stays the figure's truth
        assert rows("SELECT scored_at IS NOT NULL FROM puzzles") == [(True,)]  # revealed before: scored
        assert [tuple(r) for r in rows("SELECT id, points FROM submissions ORDER BY id")] == \
            [(1, 10.0), (2, 2.0), (3, 10.0)]
        assert rows("SELECT override_correct FROM submissions WHERE id = 2")[0][0] in ((True, 1) if overridden
                                                                                    else (None,))
        assert rows("SELECT COUNT(*) FROM scores WHERE answered_at IS NOT NULL") == [(3,)]
        assert rows("SELECT value FROM counters WHERE name = 'scoreboard'") == [(0,)]
        db.engine.dispose()
    runner = app.test_cli_runner()
    result = runner.invoke(args=["grades", "verify", "--repair"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(args=["grades", "verify"])
    assert result.exit_code == 0 and "equals its rebuild" in result.output, result.output
    with app.app_context():
        board = {uid: pts for uid, pts in db.session.execute(sa.text("SELECT user_id, points FROM user_totals"))}
        db.engine.dispose()
    assert board == {2: 20.0, 3: 10.0 if overridden else 2.0}  # ben's override (10 points) stands
    _db_check(url, tmp_path)


def _upgrade_from_landed_0001(url: str, tmp_path) -> None:
    with _app(url, tmp_path).app_context():
        upgrade(revision="0001")
        with db.engine.begin() as conn:
            _populate(conn)
        db.engine.dispose()
    _check_upgraded(url, tmp_path)


def test_populated_database_at_0001_upgrades_with_its_data(tmp_path):
    _upgrade_from_landed_0001(f"sqlite:///{tmp_path / 'u.sqlite3'}", tmp_path)


@pytest.mark.services
def test_populated_postgres_at_0001_upgrades_with_its_data(pg_url, tmp_path):  # noqa: F811
    _upgrade_from_landed_0001(pg_url, tmp_path)


def _early_scripts(tmp_path) -> Path:
    """A migrations folder whose only revision is 0001 as it was first written."""
    folder = tmp_path / "early-migrations"
    (folder / "versions").mkdir(parents=True)
    for name in ("alembic.ini", "env.py", "script.py.mako"):
        shutil.copy(REPO / "migrations" / name, folder / name)
    shutil.copy(REPO / "tests" / "data" / "migrations" / "0001_early_edition.py",
                folder / "versions" / "0001_initial_schema.py")
    return folder


def _upgrade_from_early_0001(url: str, tmp_path) -> None:
    with _app(url, tmp_path).app_context():
        upgrade(directory=str(_early_scripts(tmp_path)))
        tables = set(sa.inspect(db.engine).get_table_names())
        assert "user_totals" not in tables and "posts" not in tables  # the early edition
        with db.engine.begin() as conn:
            _populate(conn)
        db.engine.dispose()
    _check_upgraded(url, tmp_path, overridden=False)
    with _app(url, tmp_path).app_context():
        totals = db.session.execute(sa.text("SELECT COUNT(*) FROM user_totals")).scalar()
        cohorts = {c["name"] for c in sa.inspect(db.engine).get_columns("cohorts")}
        db.engine.dispose()
    assert totals == 2 and {"invite_code", "created_by"} <= cohorts


def test_database_made_by_an_early_0001_is_repaired(tmp_path):
    _upgrade_from_early_0001(f"sqlite:///{tmp_path / 'e.sqlite3'}", tmp_path)


@pytest.mark.services
def test_postgres_made_by_an_early_0001_is_repaired(pg_url, tmp_path):  # noqa: F811
    _upgrade_from_early_0001(pg_url, tmp_path)


def test_the_case_insensitive_username_index_exists_after_upgrading(tmp_path):
    """SQLite cannot reflect expression indexes: a later batch migration of `users` would drop
    it without a word. This catches that."""
    import sqlite3

    db_file = tmp_path / "idx.sqlite3"
    app = create_app({"TESTING": True, "SECRET_KEY": "s", "INSTANCE_PATH": str(tmp_path / "instance"),
                      "SQLALCHEMY_DATABASE_URI": f"sqlite:///{db_file}"})
    with app.app_context():
        upgrade()
        db.engine.dispose()
    with sqlite3.connect(db_file) as conn:
        sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'uq_users_username_lower'").fetchone()
    assert sql and "lower(username)" in sql[0] and "UNIQUE" in sql[0].upper()
