"""Benchmark: leaderboard latency at 1,000 scholars x 20 puzzles x 4 questions.

For each size (submissions in the log, default 10,000 and 100,000) it builds a fresh SQLite
database through the Alembic migrations, bulk-inserts deterministic (seeded) users, live
puzzles, submissions and the Score rows grading would have derived from them (best points
per (user, question), earliest attempt on ties, `solved` if any graded attempt was correct),
then times requests through the Flask test client:

    /leaderboard.json                 season board, JSON
    /leaderboard                      season board, HTML page (first 100 rows)
    /leaderboard.json?puzzle=<slug>   one puzzle's board, JSON

each in two modes: "cold" (the generation is bumped with the platform's own
`bump_generation()` before every request, outside the timed region, as after a grade change)
and "warm" (served from the per-process cache). It prints one table of p50/p95 in ms and a
verdict against the targets: cold season JSON p95 <= 30 ms, and 100k within 1.5x of 10k.

Run:  python bench/leaderboard.py [--requests 200] [--sizes 10000,100000] [--warmup 10]
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
from puzzle_platform.grading.leaderboard import bump_generation  # noqa: E402
from puzzle_platform.models import Puzzle, Question, Score, Submission, User, UserTotal  # noqa: E402

SCHOLARS, PUZZLES, QUESTIONS_PER_PUZZLE = 1_000, 20, 4
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


def populate(app: Flask, n_submissions: int, seed: int = 1234) -> int:
    """Insert users, puzzles, questions, `n_submissions` attempts and derived Scores."""
    rng = random.Random(seed)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    season_start = now - timedelta(days=30)
    users = [{"id": i, "username": f"scholar{i:04d}", "email": f"scholar{i:04d}@example.org",
              "password_hash": "bench-not-a-hash", "role": "scholar",
              "display_name": f"Scholar {i:04d}", "created_at": season_start}
             for i in range(1, SCHOLARS + 1)]
    puzzles = [{"id": p, "slug": f"puzzle-{p:02d}", "number": p, "title": f"Puzzle {p}",
                "release_at": now - timedelta(days=1), "deadline_at": now + timedelta(days=1),
                "reveal_at": now + timedelta(days=2)} for p in range(1, PUZZLES + 1)]
    questions = [{"id": (p - 1) * QUESTIONS_PER_PUZZLE + k + 1, "puzzle_id": p, "key": f"q{k}",
                  "position": k, "prompt_md": "Predict it.", "kind": "numeric",
                  "grader": "interval", "grader_params": {"scale": 0.5},
                  "points": QUESTION_POINTS, "max_attempts": MAX_ATTEMPTS,
                  "truth_literal": {"value": 0.5}}
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
    best: dict[tuple[int, int], dict] = {}
    subs: list[dict] = []
    for i in range(n_submissions):
        u, q = user_draws[i], questions[q_draws[i]]
        uid, qid, key = u + 1, q["id"], (u + 1, q["id"])
        created = season_start + step * i + timedelta(seconds=rng.random())
        row = {"id": i + 1, "user_id": uid, "question_id": qid, "puzzle_id": q["puzzle_id"],
               "payload": {"value": round(rng.random(), 3)}, "attempt_no": None, "score": None,
               "points": None, "correct": None, "feedback": "", "source": "web",
               "created_at": created, "graded_at": None}
        if key in solved or used.get(key, 0) >= MAX_ATTEMPTS:
            row["status"] = "rejected"
        elif rng.random() < 0.08:
            row["status"] = "rate_limited"
        else:
            used[key] = used.get(key, 0) + 1
            row["attempt_no"] = used[key]
            if rng.random() < 0.03:
                row["status"] = "pending"
            else:
                err = abs(rng.gauss(0, 0.6 * (1 - skill[u]) + 0.02))
                score = 1.0 if err < 0.05 else max(0.0, round(1 - err / 0.5, 4))
                row.update(status="graded", score=score, correct=score >= 0.9,
                           points=round(score * QUESTION_POINTS, 4),
                           graded_at=created + timedelta(seconds=1))
                if row["correct"]:
                    solved.add(key)
                cur = best.get(key)  # ids grow with created_at: strict > keeps the earliest
                if cur is None or row["points"] > cur["points"]:
                    best[key] = row
        subs.append(row)
    scores = [{"user_id": uid, "question_id": qid, "puzzle_id": b["puzzle_id"],
               "points": b["points"] or 0.0, "reached_at": b["created_at"],
               "submission_id": b["id"], "solved": (uid, qid) in solved}
              for (uid, qid), b in sorted(best.items())]
    totals: dict[int, dict] = {}
    for s in scores:  # UserTotal as grading keeps it: the season board's one row per scholar
        t = totals.setdefault(s["user_id"], {"user_id": s["user_id"], "points": 0.0, "reached_at": s["reached_at"],
                                             "solved": 0, "answered": 0})
        t["points"] += s["points"]
        t["reached_at"] = max(t["reached_at"], s["reached_at"])
        t["solved"] += int(s["solved"])
        t["answered"] += 1
    for t in totals.values():
        t["points"] = round(t["points"], 4)
    with app.app_context():
        for model, rows in ((User, users), (Puzzle, puzzles), (Question, questions),
                            (Submission, subs), (Score, scores), (UserTotal, list(totals.values()))):
            for start in range(0, len(rows), 20_000):
                db.session.execute(sa.insert(model), rows[start:start + 20_000])
        db.session.commit()
        db.session.execute(sa.text("ANALYZE"))
        db.session.commit()
    return len(scores)


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
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    endpoints = [("season json", "/leaderboard.json"), ("season html", "/leaderboard"),
                 ("puzzle json", "/leaderboard.json?puzzle=puzzle-01")]
    results: list[tuple[str, str, str, float, float]] = []
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
            with app.app_context():
                db.engine.dispose()
    print(f"{'size':<22} {'endpoint':<12} {'mode':<5} {'p50 ms':>8} {'p95 ms':>8}")
    for label, name, mode, p50, p95 in results:
        print(f"{label:<22} {name:<12} {mode:<5} {p50:>8.2f} {p95:>8.2f}")
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
