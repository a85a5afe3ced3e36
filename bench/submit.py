"""Benchmark: graded API submissions per second through the app, in one process.

It builds a fresh database through the Alembic migrations (SQLite file, or a fresh schema on
the PostgreSQL of tests/services.py), syncs one live puzzle whose questions are graded at once
(abs_tol against a literal truth; `mode = "challenge"` where the tree knows that field, and
without it on older trees, which grade such questions at once anyway), creates scholars with
API tokens (`ApiToken.issue`), turns off the wrong-answer waits and lifts the rate limits
(config keys where the tree has them, the module constants of older trees), then POSTs
answers through the Flask test client to `/api/v1/puzzles/<slug>/questions/<key>/submissions`
with a bearer token. Each (scholar, question) pair gets --run attempts, wrong ones ended by
the right one, pairs interleaved round by round (so no token nears even the old hard-coded
limits); every timed attempt must come back 201 (graded). After a warm-up on other scholars,
the timed loop reports submissions, seconds, submissions/s (also per CPU second of this
process: steadier on a shared machine, but on PostgreSQL the server's CPU is not in it), ms per
submission (p50, p95), and SQL statements and commits per submission (SQLAlchemy engine events
`before_cursor_execute` and `commit`; on SQLite also all that SQLite itself ran, through
sqlite3's trace callback: BEGIN, COMMIT and the pool's pre-ping `SELECT 1` too). The same file
measures any tree: --tree puts that tree's `puzzle_platform` (and so its migrations) first on
sys.path.

Run:  python bench/submit.py [--submissions 2000] [--run 5] [--warmup 200]
                             [--database sqlite|postgres] [--tree PATH] [--json]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

import sqlalchemy as sa
from flask import Flask

SLUG, KEYS, TRUTH, WRONG = "bench-submit", ("q1", "q2", "q3", "q4"), 0.5, 0.9
UNLIMITED = 10**9
PG_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def write_puzzle(root: Path, with_mode: bool) -> None:
    """A live puzzle of questions graded at once: abs_tol against a literal truth."""
    now = datetime.now(timezone.utc)
    stamp = {name: (now + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")
             for name, days in (("release_at", -1), ("deadline_at", 30), ("reveal_at", 31))}
    mode = 'mode = "challenge"\n' if with_mode else ""
    questions = "".join(f'\n[[questions]]\nkey = "{key}"\nprompt = "Bench question {key}."\n{mode}'
                        f'grader = "abs_tol"\ngrader_params = {{ tolerance = 0.01 }}\ntruth = {TRUTH}\n'
                        f'max_attempts = 1000\n' for key in KEYS)
    folder = root / f"01-{SLUG}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "puzzle.toml").write_text('title = "Submit bench"\n'
                                        + "".join(f'{k} = "{v}"\n' for k, v in stamp.items()) + questions)
    (folder / "statement.md").write_text("A puzzle for the submission benchmark.\n")
    (folder / "answer.md").write_text("None.\n")


def make_app(folder: Path, url: str) -> Flask:
    """A fresh database made by the migrations; no waits, limits out of the way, and no
    per-request log line (LOG_LEVEL=WARNING: a constant cost in every tree, not the app's work)."""
    from flask_migrate import upgrade
    from puzzle_platform import create_app

    app = create_app({"SECRET_KEY": "bench", "INSTANCE_PATH": str(folder / "instance"),
                      "SQLALCHEMY_DATABASE_URI": url, "PUZZLES_DIR": str(folder / "puzzles"),
                      "WRONG_ANSWER_WAITS": (0,), "LOG_LEVEL": "WARNING", "SUBMISSIONS_PER_MINUTE": UNLIMITED,
                      "API_SUBMISSIONS_PER_MINUTE": UNLIMITED, "API_REQUESTS_PER_MINUTE": UNLIMITED})
    with app.app_context():
        upgrade()
    for name in ("puzzle_platform.api_auth", "puzzle_platform.blueprints.api"):  # older trees: constants
        module = sys.modules.get(name)
        for const in ("REQUESTS_PER_MINUTE", "SUBMISSIONS_PER_MINUTE"):
            if module is not None and hasattr(module, const):
                setattr(module, const, UNLIMITED)
    return app


def sync(app: Flask, root: Path) -> str:
    """`puzzles sync` with `mode`; again without it when the tree calls the field unknown."""
    write_puzzle(root, with_mode=True)
    result = app.test_cli_runner().invoke(args=["puzzles", "sync"])
    if result.exit_code != 0 and "unknown field" in result.output and "mode" in result.output:
        write_puzzle(root, with_mode=False)
        result = app.test_cli_runner().invoke(args=["puzzles", "sync"])
        if result.exit_code == 0:
            return "(no mode field)"
    if result.exit_code != 0:
        raise SystemExit(f"puzzles sync failed:\n{result.output}")
    return "challenge"


def scholars(app: Flask, prefix: str, n: int) -> list[str]:
    """n scholars, each with one API token made by ApiToken.issue; their plain tokens."""
    from puzzle_platform.extensions import db
    from puzzle_platform.models import ApiToken, User

    with app.app_context():
        users = [User(username=f"{prefix}{i:05d}", email=f"{prefix}{i:05d}@bench.test", role="scholar",
                      password_hash="bench-not-a-hash", display_name=f"{prefix} {i}") for i in range(n)]
        db.session.add_all(users)
        db.session.flush()
        plain = [ApiToken.issue(u, "bench")[1] for u in users]
        db.session.commit()
    return plain


def plan(app: Flask, prefix: str, n: int, run: int) -> list[tuple[str, str, float]]:
    """(token, key, value) for n attempts: each (scholar, question) pair gets `run` of them,
    wrong ones then the right one (a solved challenge takes no more), pairs interleaved."""
    tokens = scholars(app, prefix, max(1, -(-n // (run * len(KEYS)))))
    pairs = [(t, k) for t in tokens for k in KEYS]
    return [(t, k, TRUTH if r == run - 1 else WRONG + 0.001 * r) for r in range(run) for t, k in pairs][:n]


class SqlCount:
    """SQL statements and commits seen on the engine while `on` (the timed loop only)."""

    def __init__(self, engine: sa.engine.Engine) -> None:
        self.on, self.statements, self.commits, self.driver = False, 0, 0, 0
        sa.event.listen(engine, "before_cursor_execute", self._statement)
        sa.event.listen(engine, "commit", self._commit)
        if engine.dialect.name == "sqlite":  # all SQLite ran: BEGIN, COMMIT, pre-ping too
            sa.event.listen(engine, "checkout", self._trace)

    def _statement(self, *_: Any) -> None:
        self.statements += self.on

    def _commit(self, *_: Any) -> None:
        self.commits += self.on

    def _driver(self, _sql: str) -> None:
        self.driver += self.on

    def _trace(self, dbapi_conn: Any, *_: Any) -> None:
        dbapi_conn.set_trace_callback(self._driver)


def post_all(app: Flask, steps: list[tuple[str, str, float]], counter: SqlCount) -> list[tuple[float, int, int, bool]]:
    """POST every step through the test client: (ms, statements, commits, right) per request."""
    client, out = app.test_client(), []
    for token, key, value in steps:
        stmts, commits = counter.statements, counter.commits
        t0 = time.perf_counter()
        resp = client.post(f"/api/v1/puzzles/{SLUG}/questions/{key}/submissions", json={"value": value},
                           headers={"Authorization": f"Bearer {token}"})
        ms = (time.perf_counter() - t0) * 1000
        body = resp.get_json(silent=True) or {}
        if resp.status_code != 201 or body.get("status") != "graded":
            raise SystemExit(f"POST {key} = {value} -> {resp.status_code}: {resp.get_data(as_text=True)[:300]}")
        out.append((ms, counter.statements - stmts, counter.commits - commits, bool(body.get("correct"))))
    return out


@contextmanager
def database(kind: str, folder: Path) -> Iterator[str]:
    """A SQLite file in `folder`, or a fresh PostgreSQL schema dropped afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{folder / 'bench.sqlite3'}"
        return
    schema, engine = f"bench_{uuid.uuid4().hex[:12]}", sa.create_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


def run(args: argparse.Namespace) -> dict[str, Any]:
    import puzzle_platform
    from puzzle_platform.extensions import db

    with tempfile.TemporaryDirectory(prefix="submit-bench-") as tmp, database(args.database, Path(tmp)) as url:
        folder = Path(tmp)
        app = make_app(folder, url)
        with app.app_context():
            engine = db.engine
        try:  # a failed run must not leave connections that keep the schema from being dropped
            mode = sync(app, folder / "puzzles")
            warm = plan(app, "warm", args.warmup, args.run)
            timed = plan(app, "bench", args.submissions, args.run)
            counter = SqlCount(engine)
            post_all(app, warm, counter)
            counter.on = True
            t0, cpu0 = time.perf_counter(), time.process_time()
            done = post_all(app, timed, counter)
            seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
            counter.on = False
        finally:
            engine.dispose()
    n, times = len(done), sorted(ms for ms, *_ in done)
    right = [d for d in done if d[3]]
    wrong = [d for d in done if not d[3]]
    row = {"tree": str(Path(puzzle_platform.__file__).parent.parent), "db": args.database, "mode": mode,
           "subs": n, "right": len(right), "seconds": round(seconds, 2), "subs/s": round(n / seconds, 1),
           "subs/cpu-s": round(n / cpu, 1),
           "p50 ms": round(statistics.median(times), 2), "p95 ms": round(times[min(n - 1, int(0.95 * n))], 2),
           "stmts/sub": round(counter.statements / n, 2), "commits/sub": round(counter.commits / n, 2),
           "stmts wrong": round(statistics.mean(d[1] for d in wrong), 2) if wrong else "-",
           "stmts right": round(statistics.mean(d[1] for d in right), 2) if right else "-",
           "max stmts": max(d[1] for d in done), "max commits": max(d[2] for d in done)}
    if args.database == "sqlite":
        row["sqlite stmts/sub"] = round(counter.driver / n, 2)
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=2000)
    parser.add_argument("--run", type=int, default=5,
                        help="attempts per (scholar, question), the last one right: 1 in 5 right by default")
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--tree", type=Path, default=Path(__file__).resolve().parent.parent,
                        help="repository whose puzzle_platform is measured (default: this one)")
    parser.add_argument("--json", action="store_true", help="one JSON object instead of the table")
    args = parser.parse_args()
    if args.submissions < 1 or args.run < 1 or args.warmup < 0:
        parser.error("--submissions and --run must be positive, --warmup not negative")
    sys.path.insert(0, str(args.tree.resolve()))
    row = run(args)
    if args.json:
        print(json.dumps(row))
    else:
        print("| " + " | ".join(row) + " |\n|" + "---|" * len(row))
        print("| " + " | ".join(str(v) for v in row.values()) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
