"""Grading under concurrency on real PostgreSQL, with threads.

- Truth switches while attempts are graded: no attempt stays graded against a superseded
  truth (grading holds its question in SHARE mode, a switch takes it in UPDATE mode).
- One scholar answering several questions at once: their total is the sum of their scores
  (totals are re-derived under a lock on the scholar).
- Many readers at the reveal: the forecasts are scored exactly once.
After each race `manage.py grades verify` finds the state equal to its rebuild.

Stress alone rarely hits the window, so each of the first two also has a forced
interleaving: one thread stops inside the window (right after a chosen SQL statement) until
the other thread finishes its competing transaction, or until it is seen to be blocked,
which is what the locks must make it.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from freezegun import freeze_time
from sqlalchemy import event

from puzzle_platform.extensions import db
from puzzle_platform.grading.artifacts import store_artifact
from puzzle_platform.models import Artifact, Figure, GradeChange, Puzzle, Score, Submission, UserTotal
from tests.helpers import challenge_mean, issue_token, question_toml, write_puzzle

pytestmark = pytest.mark.services


def _run(threads: list[threading.Thread]) -> None:
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
        assert not t.is_alive()


def _verify(app) -> None:
    result = app.test_cli_runner().invoke(args=["grades", "verify"])
    assert result.exit_code == 0, result.output


@contextmanager
def pause_after(app, marker: str, other_done: threading.Event, reached: threading.Event, wait: float = 3.0):
    """In the thread that enters this block, stop after the first statement containing
    `marker` until `other_done` is set (or `wait` seconds pass: the other is blocked)."""
    me = threading.get_ident()

    def listener(conn, cursor, statement, *args):
        if threading.get_ident() == me and marker in statement and not reached.is_set():
            reached.set()
            other_done.wait(wait)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "after_cursor_execute", listener)
    try:
        yield
    finally:
        event.remove(engine, "after_cursor_execute", listener)


def _submit(app, token: str, key: str, body: dict, errors: list) -> None:
    resp = app.test_client().post(f"/api/v1/puzzles/test-puzzle/questions/{key}/submissions", json=body,
                                  headers={"Authorization": f"Bearer {token}"})
    if resp.status_code not in (201, 202, 409):  # 409: a concurrent attempt took the number; retried below
        errors.append((resp.status_code, resp.get_json()))


def test_no_attempt_stays_graded_against_a_superseded_truth(app, puzzles_dir, sync):
    app.config.update(SUBMISSIONS_PER_MINUTE=100_000, API_SUBMISSIONS_PER_MINUTE=100_000,
                      WRONG_ANSWER_WAITS=(0,))
    write_puzzle(puzzles_dir, questions=challenge_mean(max_attempts=50))
    sync()
    tokens = [issue_token(app, f"s{i}") for i in range(12)]
    with app.app_context():
        puzzle_id = db.session.scalar(sa.select(Puzzle.id))
        params = dict(db.session.scalar(sa.select(Figure.params)))
    errors: list = []
    truths = [0.5, 0.9] * 4

    def scholar(token: str) -> None:
        for value in (0.5, 0.9, 0.5, 0.9):
            _submit(app, token, "mean", {"value": value}, errors)

    def worker() -> None:
        for i, truth in enumerate(truths):
            with app.app_context():
                store_artifact(puzzle_id, "fig", statistics={"mean_cos": truth}, figure=None,
                               provenance={"revision": f"r{i}", "code_version": "t"},
                               recipe="embedding_cosine", params=params)
                db.session.commit()

    _run([threading.Thread(target=scholar, args=(t,)) for t in tokens] + [threading.Thread(target=worker)])
    assert errors == []
    with app.app_context():
        current = db.session.scalar(sa.select(Artifact).order_by(Artifact.version.desc()).limit(1))
        assert current.statistics["mean_cos"] == truths[-1]
        graded = db.session.scalars(sa.select(Submission).where(Submission.status == "graded")).all()
        assert len(graded) >= 12
        stale = [(s.id, s.artifact_id, s.payload["value"], s.correct) for s in graded
                 if s.artifact_id != current.id or s.correct != (abs(s.payload["value"] - truths[-1]) <= 0.05)]
        assert stale == []
    _verify(app)


def test_a_truth_switch_waits_for_the_attempt_being_graded(app, puzzles_dir, sync):
    """The attempt reads the truth (0.5) and stops; the worker stores a new truth (0.9)
    meanwhile. The attempt must end up graded against 0.9, whichever commits first."""
    write_puzzle(puzzles_dir, questions=challenge_mean())
    sync()
    token = issue_token(app, "ann")
    with app.app_context():
        puzzle_id = db.session.scalar(sa.select(Puzzle.id))
        params = dict(db.session.scalar(sa.select(Figure.params)))

    def new_truth(value: float, revision: str) -> None:
        with app.app_context():
            store_artifact(puzzle_id, "fig", statistics={"mean_cos": value}, figure=None,
                           provenance={"revision": revision, "code_version": "t"},
                           recipe="embedding_cosine", params=params)
            db.session.commit()

    new_truth(0.5, "r1")
    reached, done, errors = threading.Event(), threading.Event(), []

    def scholar() -> None:
        with pause_after(app, "FROM artifacts", done, reached):
            _submit(app, token, "mean", {"value": 0.5}, errors)

    def worker() -> None:
        reached.wait(10)
        new_truth(0.9, "r2")
        done.set()

    _run([threading.Thread(target=scholar), threading.Thread(target=worker)])
    assert errors == [] and reached.is_set()
    with app.app_context():
        sub = db.session.scalar(sa.select(Submission))
        latest = db.session.scalar(sa.select(Artifact.id).where(Artifact.version == 2))
        assert (sub.artifact_id, sub.correct, sub.points) == (latest, False, 0.0)
    _verify(app)


def test_an_override_during_an_answer_does_not_lose_a_total_update(app, puzzles_dir, sync):
    """ann's answer to puzzle 1 stops after reading her scores, before writing her total; a
    mentor overrides her earlier answer to puzzle 2 meanwhile. Her season total must count
    both. (Two answers of one scholar are serialised earlier, by their rate-limit counter, and
    anything on the same puzzle by the puzzle's lock; this is what the scholar's lock is for.)"""
    from puzzle_platform.grading.overrides import override
    from puzzle_platform.models import User

    for number, slug, points in ((1, "test-puzzle", 3), (2, "other", 4)):
        write_puzzle(puzzles_dir, number=number, slug=slug, figures="", questions=question_toml(
            "a", "?", kind="numeric", mode="challenge", grader="abs_tol", grader_params={"tolerance": 0.01},
            truth=1.0, points=points))
    sync()
    token = issue_token(app, "ann")
    issue_token(app, "mona", role="mentor")
    resp = app.test_client().post("/api/v1/puzzles/other/questions/a/submissions", json={"value": 1.0},
                                  headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 201
    reached, done, errors = threading.Event(), threading.Event(), []

    def answer() -> None:
        with pause_after(app, "FROM scores", done, reached):
            _submit(app, token, "a", {"value": 1.0}, errors)

    def mentor() -> None:
        reached.wait(10)
        with app.app_context():
            sub = db.session.scalar(sa.select(Submission))
            override(sub, "2", "partly right", db.session.scalar(sa.select(User).where(User.username == "mona")))
        done.set()

    _run([threading.Thread(target=answer), threading.Thread(target=mentor)])
    assert errors == [] and reached.is_set()
    with app.app_context():
        assert db.session.scalar(sa.select(UserTotal.points)) == 5.0
    _verify(app)


def test_one_scholar_answering_in_parallel_keeps_a_true_total(app, puzzles_dir, sync):
    app.config.update(SUBMISSIONS_PER_MINUTE=100_000, API_SUBMISSIONS_PER_MINUTE=100_000)
    keys = [f"q{i}" for i in range(8)]
    write_puzzle(puzzles_dir, figures="", questions="".join(
        question_toml(k, "?", kind="numeric", mode="challenge", grader="abs_tol",
                      grader_params={"tolerance": 0.01}, truth=1.0, points=1 + i) for i, k in enumerate(keys)))
    sync()
    token = issue_token(app, "ann")
    errors: list = []
    _run([threading.Thread(target=_submit, args=(app, token, k, {"value": 1.0}, errors)) for k in keys])
    assert errors == []
    with app.app_context():
        total = db.session.scalar(sa.select(UserTotal.points))
        scores = db.session.scalar(sa.select(sa.func.sum(Score.points)))
    assert total == scores == sum(1 + i for i in range(8))
    _verify(app)


def test_the_reveal_is_scored_exactly_once(app, puzzles_dir, sync):
    write_puzzle(puzzles_dir, figures="", questions=question_toml(
        "f", "?", kind="numeric", grader="abs_tol", grader_params={"tolerance": 0.1}, truth=0.5))
    sync()
    tokens = [issue_token(app, f"s{i}") for i in range(6)]
    for i, token in enumerate(tokens):
        _submit(app, token, "f", {"value": 0.45 + i / 100}, [])
    with freeze_time(datetime.now(timezone.utc) + timedelta(days=2, hours=1)):
        barrier = threading.Barrier(8)

        def reader() -> None:
            barrier.wait()
            assert app.test_client().get("/leaderboard.json").status_code == 200

        _run([threading.Thread(target=reader) for _ in range(8)])
        with app.app_context():
            assert db.session.scalar(sa.select(sa.func.count()).select_from(GradeChange)) == len(tokens)
            assert db.session.scalar(sa.select(Puzzle.scored_at)) is not None
            assert db.session.scalar(sa.select(sa.func.count()).select_from(Score)) == len(tokens)
        _verify(app)


# --- lock order against syncs (found by review) ----------------------------------------

def _challenge(key, truth, points=5):
    return question_toml(key, "?", kind="numeric", mode="challenge", grader="abs_tol",
                         grader_params={"tolerance": 0.01}, truth=truth, points=points)


def _post(app, token, slug, key, value):
    return app.test_client().post(f"/api/v1/puzzles/{slug}/questions/{key}/submissions",
                                  json={"value": value}, headers={"Authorization": f"Bearer {token}"})


def test_a_sync_and_an_answer_elsewhere_do_not_deadlock(app, puzzles_dir, sync):
    """A sync regrading two questions (so re-deriving two scholars' totals) stops when it
    bumps the scoreboard counter; a scholar then answers on another puzzle. Locks must follow
    one order (puzzles, questions, users, counter) or PostgreSQL aborts one of them."""
    write_puzzle(puzzles_dir, number=1, slug="one", figures="",
                 questions=_challenge("c1", 1.0) + _challenge("c2", 1.0))
    write_puzzle(puzzles_dir, number=2, slug="two", figures="", questions=_challenge("c", 1.0))
    sync()
    ann, bob = issue_token(app, "ann"), issue_token(app, "bob")
    assert _post(app, ann, "one", "c1", 1.0).status_code == 201
    assert _post(app, bob, "one", "c2", 1.0).status_code == 201
    # the mentor changes both truths of puzzle one: both questions regrade
    write_puzzle(puzzles_dir, number=1, slug="one", figures="",
                 questions=_challenge("c1", 2.0) + _challenge("c2", 2.0))
    from puzzle_platform.content.files import load_all
    from puzzle_platform.content.sync import sync_puzzles

    reached, done, errors = threading.Event(), threading.Event(), []

    def mentor_sync():
        with pause_after(app, "UPDATE counters", done, reached, wait=3.0):
            with app.app_context():
                try:
                    sync_puzzles(load_all(puzzles_dir))
                except Exception as exc:  # noqa: BLE001
                    errors.append(("sync", type(exc).__name__, str(exc).splitlines()[0]))

    def bob_answers_puzzle_two():
        reached.wait(10)
        try:
            resp = _post(app, bob, "two", "c", 1.0)
            if resp.status_code != 201:
                errors.append(("submit", resp.status_code, resp.get_data(as_text=True)[:200]))
        except Exception as exc:  # noqa: BLE001
            errors.append(("submit", type(exc).__name__, str(exc).splitlines()[0]))
        done.set()

    threads = [threading.Thread(target=mentor_sync), threading.Thread(target=bob_answers_puzzle_two)]
    _run(threads)
    assert reached.is_set()
    assert errors == []


def test_a_job_finishing_while_a_sync_changes_its_figure_does_not_deadlock(app, puzzles_dir, sync):
    """A worker records its success while a sync changes the figure's params and supersedes
    unfinished jobs: both lock the puzzle before the job row, so the sync waits; the stored
    artifact was computed for the old params and does not become the truth."""
    from puzzle_platform.content.files import load_all
    from puzzle_platform.content.sync import sync_puzzles
    from puzzle_platform.jobs.runner import _succeed
    from puzzle_platform.models import Figure, Job, Puzzle
    from tests.helpers import figure_toml, mean_question

    write_puzzle(puzzles_dir, slug="p", figures=figure_toml(), questions=mean_question())
    sync()
    with app.app_context():
        pid = db.session.scalar(sa.select(Puzzle.id))
        fig = db.session.scalar(sa.select(Figure))
        job = Job(kind="figure", puzzle_id=pid, figure_key="fig", status="running", worker="me",
                  params={"recipe": fig.recipe, "params": dict(fig.params)}, stage="x", max_attempts=3,
                  attempts=1)
        db.session.add(job)
        db.session.commit()
        job_id = job.id
    # the mentor changes the figure's params meanwhile
    write_puzzle(puzzles_dir, slug="p", figures=figure_toml(model="models:tiny", weights="raw", bins=50),
                 questions=mean_question())
    reached, done, errors, results = threading.Event(), threading.Event(), [], []

    def worker_finishes():
        with pause_after(app, "UPDATE jobs", done, reached, wait=3.0):
            with app.app_context():
                job = db.session.get(Job, job_id)
                try:
                    results.append(_succeed(job, "me", {"statistics": {"mean_cos": 0.5}, "figure": None,
                                                        "provenance": {"revision": "r", "code_version": "c"}}))
                except Exception as exc:  # noqa: BLE001
                    errors.append(("worker", type(exc).__name__, str(exc).splitlines()[0]))

    def mentor_sync():
        reached.wait(10)
        with app.app_context():
            try:
                sync_puzzles(load_all(puzzles_dir))
            except Exception as exc:  # noqa: BLE001
                errors.append(("sync", type(exc).__name__, str(exc).splitlines()[0]))
        done.set()

    threads = [threading.Thread(target=worker_finishes), threading.Thread(target=mentor_sync)]
    _run(threads)
    assert reached.is_set()
    assert errors == [] and results == ["succeeded"]  # the worker held the puzzle first
    with app.app_context():  # ... and its artifact, for the old params, is not the new truth
        from puzzle_platform.grading.truth import current_artifact
        assert current_artifact(pid, "fig") is None
