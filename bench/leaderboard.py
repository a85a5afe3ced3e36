"""Benchmark: leaderboard latency at 1,000 scholars x 20 puzzles x 4 questions, and the
scoring of 10,000 forecasts at a reveal.

For each size (submissions in the log, default 10,000 and 100,000) it builds a fresh SQLite
database through the Alembic migrations and bulk-inserts deterministic (seeded) users,
puzzles (16 revealed, 4 live; three forecast questions and one challenge each) and the
attempt log; the grades, Score rows and totals are then derived by the platform's own
rebuild (`grades verify --repair`'s function), exactly as grading would have made them. It
times requests through the Flask test client:

    /leaderboard.json                 season board, JSON
    /leaderboard                      season board, HTML page (first 100 rows)
    /leaderboard.json?puzzle=<slug>   one puzzle's board, JSON

each in two modes: "cold" (the generation is bumped with the platform's own
`bump_generation()` before every request, outside the timed region, as after a grade change)
and "warm" (served from the per-process cache). It prints one table of p50/p95 in ms and a
verdict against the targets: cold season JSON p95 <= 30 ms, and 100k within 1.5x of 10k.

Then the reveal: a puzzle with 10,000 forecasts (2,500 scholars x 4 questions), whose reveal
has just passed, is scored by one call of the function the first reader (or a worker's tick)
runs; its wall time, and the first cold board read after it, get their own rows.

Run:  python bench/leaderboard.py [--requests 200] [--sizes 10000,100000] [--warmup 10] [--reveal 10000]
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import sqlalchemy as sa
from flask import Flask

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from puzzle_platform import create_app  # noqa: E402
from puzzle_platform.extensions import db  # noqa: E402
from puzzle_platform.grading.generation import bump_generation  # noqa: E402
from puzzle_platform.grading.refresh import rebuild  # noqa: E402
from puzzle_platform.grading.reveal import score_due  # noqa: E402
from puzzle_platform.models import Puzzle, Question, Score, Submission, User  # noqa: E402

SCHOLARS, PUZZLES, QUESTIONS_PER_PUZZLE, REVEALED = 1_000, 20, 4, 16
MAX_ATTEMPTS, QUESTION_POINTS = 5, 10.0
TARGET_P95_MS, TARGET_RATIO = 30.0, 1.5


def make_app(folder: Path) -> Flask:
    """A fresh database made by the migrations, exactly as the app would make it."""
    from flask_migrate import upgrade

    app = create_app({"SECRET_KEY": "bench", "INSTANCE_PATH": str(folder / "instance"),
                      "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder / 'bench.sqlite3'}",
                      "PUZZLES_DIR": str(folder / "puzzles")})
    with app.app_context():
        upgrade()
    return app


def _question(pid: int, k: int, qid: int) -> dict:
    """Three forecasts (interval grader) and one challenge (all or nothing) per puzzle."""
    challenge = k == QUESTIONS_PER_PUZZLE - 1
    return {"id": qid, "puzzle_id": pid, "key": f"q{k}", "position": k, "prompt_md": "Predict it.",
            "kind": "numeric", "mode": "challenge" if challenge else "forecast",
            "grader": "abs_tol" if challenge else "interval",
            "grader_params": {"tolerance": 0.05} if challenge else {"scale": 0.5},
            "points": QUESTION_POINTS, "max_attempts": MAX_ATTEMPTS, "truth_literal": {"value": 0.5}}


def _users(n: int, start: datetime, first: int = 1) -> list[dict]:
    return [{"id": i, "username": f"scholar{i:05d}", "email": f"scholar{i:05d}@example.org",
             "password_hash": "bench-not-a-hash", "role": "scholar", "display_name": f"Scholar {i:05d}",
             "created_at": start} for i in range(first, first + n)]


def _insert(app: Flask, tables: list[tuple[type, list[dict]]]) -> None:
    with app.app_context():
        for model, rows in tables:
            for begin in range(0, len(rows), 20_000):
                db.session.execute(sa.insert(model), rows[begin:begin + 20_000])
        db.session.commit()


def populate(app: Flask, n_submissions: int, seed: int = 1234) -> int:
    """Insert users, puzzles, questions and `n_submissions` attempts; derive the rest."""
    rng = random.Random(seed)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    season_start = now - timedelta(days=30)
    users = _users(SCHOLARS, season_start)
    puzzles = [{"id": p, "slug": f"puzzle-{p:02d}", "number": p, "title": f"Puzzle {p}",
                "release_at": season_start - timedelta(days=1),
                "deadline_at": now - timedelta(minutes=30) if p <= REVEALED else now + timedelta(days=1),
                "reveal_at": now - timedelta(minutes=10) if p <= REVEALED else now + timedelta(days=2)}
               for p in range(1, PUZZLES + 1)]
    questions = [_question(p, k, (p - 1) * QUESTIONS_PER_PUZZLE + k + 1)
                 for p in range(1, PUZZLES + 1) for k in range(QUESTIONS_PER_PUZZLE)]

    # Scholars differ in activity (heavy-tailed) and skill; early puzzles get more traffic.
    activity = [rng.lognormvariate(0, 1) for _ in users]
    skill = [rng.betavariate(2, 2) for _ in users]
    q_weight = [1.0 / (1 + 0.08 * (q["puzzle_id"] - 1)) for q in questions]
    user_draws = rng.choices(range(SCHOLARS), weights=activity, k=n_submissions)
    q_draws = rng.choices(range(len(questions)), weights=q_weight, k=n_submissions)
    step = (now - season_start - timedelta(hours=1)) / n_submissions
    used: dict[tuple[int, int], int] = {}
    solved: set[tuple[int, int]] = set()
    subs: list[dict] = []
    for i in range(n_submissions):
        u, q = user_draws[i], questions[q_draws[i]]
        key = (u + 1, q["id"])
        value = round(0.5 + rng.gauss(0, 0.6 * (1 - skill[u]) + 0.02), 3)
        row = {"id": i + 1, "user_id": u + 1, "question_id": q["id"], "puzzle_id": q["puzzle_id"],
               "payload": {"value": value, "lower": None, "upper": None}, "attempt_no": None,
               "feedback": "", "source": "web", "status": "pending",
               "created_at": season_start + step * i + timedelta(seconds=rng.random())}
        if key in solved or used.get(key, 0) >= MAX_ATTEMPTS:
            row["status"] = "rejected"
        elif rng.random() < 0.08:
            row["status"] = "rate_limited"
        else:
            used[key] = used.get(key, 0) + 1
            row["attempt_no"] = used[key]
            if q["mode"] == "challenge" and abs(value - 0.5) <= 0.05:
                solved.add(key)
        subs.append(row)
    _insert(app, [(User, users), (Puzzle, puzzles), (Question, questions), (Submission, subs)])
    with app.app_context():
        score_due()                           # the revealed puzzles' forecasts are scored ...
        rebuild(dry_run=False)                # ... and everything else derived, as grading does
        db.session.commit()
        db.session.execute(sa.text("ANALYZE"))
        db.session.commit()
        return db.session.scalar(sa.select(sa.func.count()).select_from(Score))


def reveal_scoring(app: Flask, forecasts: int, seed: int = 99) -> tuple[float, float]:
    """Seconds to score a puzzle's `forecasts` predictions at its reveal (which passed a
    minute ago, so the first reader or worker tick scores it), and the first cold
    season-board read after it (ms)."""
    rng = random.Random(seed)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    scholars = forecasts // 3
    pid, first_q = PUZZLES + 1, PUZZLES * QUESTIONS_PER_PUZZLE + 1
    questions = [_question(pid, k, first_q + k) for k in range(3)]
    first_user = SCHOLARS + 1
    subs = [{"user_id": first_user + i // 3, "question_id": questions[i % 3]["id"], "puzzle_id": pid,
             "payload": {"value": round(rng.gauss(0.5, 0.2), 3), "lower": 0.3, "upper": 0.9},
             "attempt_no": 1, "feedback": "", "source": "api", "status": "pending",
             "created_at": now - timedelta(hours=2) + timedelta(seconds=i % 3600)} for i in range(scholars * 3)]
    _insert(app, [(User, _users(scholars, now - timedelta(days=1), first_user)),
                  (Puzzle, [{"id": pid, "slug": "reveal", "number": pid, "title": "Reveal",
                             "release_at": now - timedelta(days=1), "deadline_at": now - timedelta(hours=1),
                             "reveal_at": now - timedelta(minutes=1)}]),
                  (Question, questions), (Submission, subs)])
    with app.app_context():
        t0 = time.perf_counter()
        scored = score_due()
        seconds = time.perf_counter() - t0
        assert scored == [pid], scored
    t0 = time.perf_counter()
    assert app.test_client().get("/leaderboard.json").status_code == 200
    return seconds, (time.perf_counter() - t0) * 1000


def invalidate(app: Flask) -> None:
    with app.app_context():
        bump_generation()
        db.session.commit()


def measure(app: Flask, url: str, cold: bool, n: int, warmup: int) -> tuple[float, float]:
    client = app.test_client()
    times: list[float] = []
    for i in range(warmup + n):
        if cold:
            invalidate(app)
        t0 = time.perf_counter()
        resp = client.get(url)
        elapsed = (time.perf_counter() - t0) * 1000
        if resp.status_code != 200:
            raise SystemExit(f"GET {url} -> {resp.status_code}")
        if i >= warmup:
            times.append(elapsed)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(0.95 * len(times)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--reveal", type=int, default=10_000, help="forecasts scored at a reveal")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    endpoints = [("season json", "/leaderboard.json"), ("season html", "/leaderboard"),
                 ("puzzle json", "/leaderboard.json?puzzle=puzzle-01")]
    results: list[tuple[str, str, str, float, float]] = []
    reveal_rows: list[tuple[str, str, str, float, float]] = []
    cold_season_p95: dict[int, float] = {}
    with tempfile.TemporaryDirectory(prefix="lb-bench-") as tmp:
        for size in sizes:
            folder = Path(tmp) / str(size)
            folder.mkdir()
            app = make_app(folder)
            t0 = time.perf_counter()
            n_scores = populate(app, size)
            print(f"built {size:,} submissions, {n_scores:,} score rows in "
                  f"{time.perf_counter() - t0:.1f} s", file=sys.stderr)
            label = f"{size // 1000}k ({n_scores:,} scores)"
            for name, url in endpoints:
                for mode in ("cold", "warm"):
                    p50, p95 = measure(app, url, mode == "cold", args.requests, args.warmup)
                    results.append((label, name, mode, p50, p95))
                    if name == "season json" and mode == "cold":
                        cold_season_p95[size] = p95
            if size == max(sizes) and args.reveal:
                seconds, first_read = reveal_scoring(app, args.reveal)
                reveal_rows = [(f"+{args.reveal:,} forecasts", "reveal", "once", seconds * 1000, seconds * 1000),
                               (f"+{args.reveal:,} forecasts", "season json", "cold", first_read, first_read)]
            with app.app_context():
                db.engine.dispose()
    print(f"{'size':<22} {'endpoint':<12} {'mode':<5} {'p50 ms':>8} {'p95 ms':>8}")
    for label, name, mode, p50, p95 in results + reveal_rows:
        print(f"{label:<22} {name:<12} {mode:<5} {p50:>8.2f} {p95:>8.2f}")
    if reveal_rows:
        ms = reveal_rows[0][3]
        print(f"reveal: {args.reveal:,} forecasts scored in {ms / 1000:.2f} s "
              f"({args.reveal / (ms / 1000):,.0f} forecasts/s), exactly once")
    worst = max(cold_season_p95.values())
    ok = worst <= TARGET_P95_MS
    verdict = f"cold season json: worst p95 {worst:.2f} ms (target <= {TARGET_P95_MS:.0f})"
    if len(sizes) >= 2:
        small, large = cold_season_p95[min(sizes)], cold_season_p95[max(sizes)]
        ratio = large / small
        ok = ok and ratio <= TARGET_RATIO
        verdict += (f"; p95 {max(sizes) // 1000}k/{min(sizes) // 1000}k = {ratio:.2f}x "
                    f"(target <= {TARGET_RATIO}x)")
    print(f"{verdict} -> {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
