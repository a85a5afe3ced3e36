"""bench/load_test.py itself: it refuses non-loopback targets, runs end to end against both
servers it can spawn, and its verifier really finds lost and doubled submissions."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from bench.load_test import LoadReport, Result, main, require_loopback, verify, write_load_puzzle
from puzzle_platform.extensions import db
from puzzle_platform.models import Puzzle, Question, Submission


@pytest.mark.parametrize("url", ["http://10.1.2.3:8000", "http://8.8.8.8", "https://127.0.0.1:8443",
                                 "ftp://127.0.0.1/", "127.0.0.1:8000"])
def test_refuses_anything_but_loopback_http(url, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--url", url, "--clients", "1", "--per-client", "1"])
    assert exc.value.code == 2
    assert "refusing" in capsys.readouterr().err


def test_loopback_names_are_accepted():
    for url in ("http://127.0.0.1:1", "http://localhost:1/", "http://[::1]:1"):
        require_loopback(url)


def test_spawned_embedded_sqlite_run_stores_every_submission_once(capsys):
    assert main(["--spawn", "embedded-sqlite", "--clients", "3", "--per-client", "8"]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("| embedded-sqlite"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    # target, clients, submissions, accepted, 4xx, 5xx, conn. errors, ..., lost, doubled
    assert cells[1:7] == ["3 x 8", "24", "24", "0", "0", "0"] and cells[-3:-1] == ["0", "0"]


@pytest.mark.services
def test_spawned_gunicorn_postgres_run_stores_every_submission_once(capsys):
    from tests.services import require
    require("PostgreSQL", "127.0.0.1", 5432)
    assert main(["--spawn", "gunicorn-postgres", "--clients", "3", "--per-client", "8", "--workers", "2"]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("| gunicorn-postgres"))
    assert [c.strip() for c in row.strip("|").split("|")][1:4] == ["3 x 8", "24", "24"]


@pytest.mark.services
def test_verifier_finds_lost_doubled_and_unanswered_rows(app, auth, puzzles_dir, sync, db_url):
    write_load_puzzle(puzzles_dir)
    sync()
    user_id = auth.create_user("verifier")
    with app.app_context():
        puzzle = db.session.scalar(sa.select(Puzzle))
        question = db.session.scalar(sa.select(Question))
        for n, (marker, status) in enumerate([("1000001", "graded"), ("1000001", "pending"),
                                              ("1000003", "graded"), ("1000004", "rejected")]):
            value = float(marker) if status != "rejected" else marker  # rejected rows keep the raw text
            db.session.add(Submission(user_id=user_id, question_id=question.id, puzzle_id=puzzle.id,
                                      payload={"value": value}, status=status,
                                      attempt_no=None if status == "rejected" else n + 1))
        db.session.commit()
    report = LoadReport("t", 1, 4, results=[
        Result(0, "1000001", 303, 0.1), Result(0, "1000002", 303, 0.1),   # doubled; lost
        Result(0, "1000003", None, 0.1, "reset"), Result(0, "1000004", 303, 0.1)])  # stored unanswered; lost
    assert verify(db_url, report) == {"lost": ["1000002", "1000004"], "doubled": ["1000001"],
                                      "unanswered_but_stored": ["1000003"]}
