"""Helpers for tests: puzzle folders with a schedule relative to now, the TOML of their
figures and questions, ground truth, users with API tokens, cohorts, CSRF."""
from __future__ import annotations

import json
import os
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def csrf_token(client, path: str = "/login") -> str:
    html = client.get(path).get_data(as_text=True)
    match = CSRF_RE.search(html) or re.search(r'id="csrf_token"[^>]*value="([^"]+)"', html)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def iso(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def toml_value(value) -> str:
    """A Python value written as TOML: strings (and paths) quoted, lists in brackets, dicts as
    inline tables `{ a = 1, b = "x" }`."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # JSON's escapes are valid in TOML strings
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"no TOML for {value!r}")


def toml_table(header: str, **fields) -> str:
    """One `[[header]]` table, a `name = value` line per field in order (None: left out)."""
    lines = [f"[[{header}]]", *(f"{k} = {toml_value(v)}" for k, v in fields.items() if v is not None)]
    return "\n" + "\n".join(lines) + "\n"


def figure_toml(key: str = "fig", title: str = "A figure", recipe: str = "embedding_cosine",
                **params) -> str:
    """A [[figures]] table; `params` default to the tiny model's raw weights."""
    return toml_table("figures", key=key, title=title, recipe=recipe,
                      params=params or {"model": "models:tiny", "weights": "raw"})


def question_toml(key: str, prompt: str, **fields) -> str:
    """A [[questions]] table: key, prompt, then `fields` in order (None: left out)."""
    return toml_table("questions", key=key, prompt=prompt, **fields)


def after_reveal():
    """The clock frozen just after the reveal of a puzzle that write_puzzle wrote as "live"
    (its reveal is two days ahead): forecasts are scored on the first read then."""
    from freezegun import freeze_time

    return freeze_time(datetime.now(timezone.utc) + timedelta(days=2, hours=1))


def mean_question(key: str = "mean", **fields) -> str:
    """The interval-graded question on the default figure's mean cosine; `fields` add to or
    override (None: leave out) its kind, grader, grader_params and statistic."""
    return question_toml(key, "Predict the mean cosine.", **{
        "kind": "numeric", "grader": "interval", "grader_params": {"scale": 0.5},
        "statistic": "fig.mean_cos", **fields})


def challenge_mean(key: str = "mean", figure: str = "fig", **fields) -> str:
    """The mean-cosine question as a challenge: right (within 0.05) or wrong at once. A puzzle
    that also has a forecast on "fig" gives its challenge another figure (a challenge may not
    read a forecast's figure)."""
    return mean_question(key, **{"mode": "challenge", "grader": "abs_tol", "grader_params": {"tolerance": 0.05},
                                 "statistic": f"{figure}.mean_cos", **fields})


TWO_FIGURES = figure_toml() + figure_toml("fig2", "Another figure")


def choice_question(**fields) -> str:
    """The "pick" question: alpha or beta, the truth is beta."""
    return question_toml("pick", "Which one?", kind="choice", grader="choice", choices=["alpha", "beta"],
                         truth="beta", **fields)


def text_question(truth: str, prompt: str = "Name it.", **fields) -> str:
    """The "word" question, graded by exact text."""
    return question_toml("word", prompt, kind="text", grader="exact_text", truth=truth, **fields)


FIGURE_TOML = figure_toml()
MEAN_QUESTION_TOML = mean_question(points=10, max_attempts=3)
CHOICE_AND_TEXT_TOML = (choice_question(points=5, max_attempts=2)
                        + text_question("Zebra-Unique-Word", points=5, max_attempts=2))


def write_puzzle(root: Path, number: int = 1, slug: str = "test-puzzle", *, state: str = "live",
                 questions: str | None = None, figures: str | None = None, title: str = "Test puzzle",
                 answer: str = "The answer text: SECRET-ANSWER-TEXT.") -> Path:
    """Write a puzzle folder whose schedule puts it in `state` now."""
    now = datetime.now(timezone.utc)
    day = timedelta(days=1)
    release, deadline, reveal = {
        "upcoming": (now + day, now + 2 * day, now + 3 * day),
        "live": (now - day, now + day, now + 2 * day),
        "closed": (now - 3 * day, now - day, now + day),
        "revealed": (now - 3 * day, now - 2 * day, now - day),
    }[state]
    folder = root / f"{number:02d}-{slug}"
    folder.mkdir(parents=True, exist_ok=True)
    if figures is None:
        figures = FIGURE_TOML
    if questions is None:
        questions = MEAN_QUESTION_TOML
    (folder / "puzzle.toml").write_text(
        f'title = "{title}"\nrelease_at = "{iso(release)}"\ndeadline_at = "{iso(deadline)}"\n'
        f'reveal_at = "{iso(reveal)}"\n{figures}\n{questions}\n')
    (folder / "statement.md").write_text("Look at the figure. $x^2$\n")
    (folder / "answer.md").write_text(answer + "\n")
    return folder


def add_artifact(app, slug: str, figure_key: str, statistics: dict, revision: str = "r1",
                 figure: dict | None = None, params: dict | None = None):
    """Insert ground truth as the worker would (tests stand in for the GPU worker here), for
    the figure's current recipe and params unless `params` says otherwise; `figure` (plotly
    JSON) defaults to a fixed 2-bar chart. Returns (artifact id, version, attempts changed)."""
    import sqlalchemy as sa

    from puzzle_platform.extensions import db
    from puzzle_platform.grading.artifacts import store_artifact
    from puzzle_platform.models import Figure, Puzzle

    with app.app_context():
        puzzle = db.session.scalar(sa.select(Puzzle).where(Puzzle.slug == slug))
        fig = db.session.scalar(sa.select(Figure).where(Figure.puzzle_id == puzzle.id, Figure.key == figure_key))
        artifact, report = store_artifact(
            puzzle.id, figure_key, statistics=statistics,
            figure=figure or {"data": [{"type": "bar", "x": [0.1, 0.2], "y": [3, 4]}],
                              "layout": {"title": {"text": "fig"}}},
            provenance={"model": "tiny", "revision": revision, "weights": "raw", "code_version": "test/1"},
            recipe=fig.recipe if fig else "embedding_cosine",
            params=params if params is not None else (dict(fig.params) if fig else {}))
        db.session.commit()
        return artifact.id, artifact.version, report.attempts


def make_app(tmp_path: Path, template_db: Path, name: str = "extra", **overrides):
    """A second app on its own fresh copy of the migrated database, with config overrides
    (production mode, a dead broker, lower limits...); the `app` fixture's config is fixed."""
    import shutil

    from puzzle_platform import create_app

    folder = tmp_path / name
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(template_db, folder / "db.sqlite3")
    config = {"TESTING": True, "SECRET_KEY": "test-secret", "INSTANCE_PATH": str(folder / "instance"),
              "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder / 'db.sqlite3'}",
              "PUZZLES_DIR": str(folder / "puzzles")}
    return create_app({**config, **overrides})


def issue_token(app, username: str, role: str = "scholar", name: str = "test") -> str:
    """An API token (the plain text) for the user, created first (password "correct horse
    battery") when there is none of that name."""
    import sqlalchemy as sa

    from puzzle_platform.extensions import db
    from puzzle_platform.models import ApiToken, User

    with app.app_context():
        user = db.session.scalar(sa.select(User).where(User.username == username))
        if user is None:
            user = User(username=username, email=f"{username}@example.org", role=role,
                        display_name=username.title())
            user.set_password("correct horse battery")
            db.session.add(user)
            db.session.flush()
        _, plain = ApiToken.issue(user, name)
        db.session.commit()
        return plain


def add_cohort(app, slug: str, name: str, members=(), **fields) -> int:
    """A cohort (columns in `fields`, e.g. leaderboard_private=True) with the named users as
    members; returns its id."""
    import sqlalchemy as sa

    from puzzle_platform.extensions import db
    from puzzle_platform.models import Cohort, CohortMember, User

    with app.app_context():
        cohort = Cohort(slug=slug, name=name, **fields)
        db.session.add(cohort)
        db.session.flush()
        for username in members:
            uid = db.session.scalar(sa.select(User.id).where(User.username == username))
            db.session.add(CohortMember(cohort_id=cohort.id, user_id=uid))
        db.session.commit()
        return cohort.id


WORKER_TEST_ENV = {"SECRET_KEY": "k", "HF_HUB_OFFLINE": "1", "JOB_STALE_SECONDS": "3",
                   "JOB_RECOVERY_SECONDS": "0.5", "JOB_HEARTBEAT_SECONDS": "0.5"}


def start_worker_process(app, instance: Path, log_path: Path, **env: str):
    """A real `manage.py worker` on `app`'s database, in its own process group (so that
    kill_group takes the pool child with it), with fast heartbeats and recovery."""
    import os
    import subprocess
    import sys

    cfg = app.config
    full_env = {**os.environ, **WORKER_TEST_ENV, "DATABASE_URL": cfg["SQLALCHEMY_DATABASE_URI"],
                "PUZZLES_INSTANCE": str(instance), "PUZZLES_DIR": cfg["PUZZLES_DIR"], **env}
    log = open(log_path, "w")  # noqa: SIM115 - the child keeps writing to it
    return subprocess.Popen([sys.executable, str(REPO / "manage.py"), "worker", "--loglevel=INFO"],
                            cwd=REPO, env=full_env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)


def kill_group(proc) -> None:
    """kill -9 a worker's whole process group (parent and pool child) and reap it."""
    import os
    import signal

    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=10)


def _proc_stats() -> dict[int, tuple[str, int, int]]:
    """{pid: (state, ppid, pgrp)} of every process, from /proc (Linux)."""
    stats = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            data = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        state, ppid, pgrp = data[data.rindex(")") + 2:].split()[:3]
        stats[int(entry.name)] = (state, int(ppid), int(pgrp))
    return stats


def descendants(pid: int) -> list[int]:
    """The children of `pid`, their children, and so on (Linux)."""
    stats = _proc_stats()
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        children = [c for c, (_, ppid, _) in stats.items() if ppid == parent]
        found += children
        todo += children
    return found


def process_groups_of(pid: int) -> set[int]:
    """The process groups of `pid` and of all its descendants (a worker may run in its own)."""
    return {os.getpgid(p) for p in [pid, *descendants(pid)] if _alive(p)}


def _alive(pid: int) -> bool:
    try:
        os.getpgid(pid)
    except ProcessLookupError:
        return False
    return True


def live_group_members(groups: set[int]) -> list[int]:
    """Processes still alive (zombies, already dead, aside) in any of these process groups."""
    return sorted(p for p, (state, _, pgrp) in _proc_stats().items() if pgrp in groups and state not in "ZX")


def counting_password_checks(monkeypatch) -> list[str]:
    """Count every password check (User.check_password) from any thread: a throttle's promise
    is about how many checks run, whatever the answers say."""
    import threading

    from puzzle_platform.models import User

    checks, lock = [], threading.Lock()
    original = User.check_password

    def counting(self, password):
        with lock:
            checks.append(password)
        return original(self, password)

    monkeypatch.setattr(User, "check_password", counting)
    return checks
