"""Helpers for tests: puzzle folders with a schedule relative to now, ground truth, CSRF."""
from __future__ import annotations

import re
import textwrap
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
        figures = textwrap.dedent("""
            [[figures]]
            key = "fig"
            title = "A figure"
            recipe = "embedding_cosine"
            params = { model = "tiny", weights = "raw" }
        """)
    if questions is None:
        questions = textwrap.dedent("""
            [[questions]]
            key = "mean"
            prompt = "Predict the mean cosine."
            kind = "numeric"
            grader = "interval"
            grader_params = { scale = 0.5 }
            statistic = "fig.mean_cos"
            points = 10
            max_attempts = 3
        """)
    (folder / "puzzle.toml").write_text(
        f'title = "{title}"\nrelease_at = "{iso(release)}"\ndeadline_at = "{iso(deadline)}"\n'
        f'reveal_at = "{iso(reveal)}"\n{figures}\n{questions}\n')
    (folder / "statement.md").write_text("Look at the figure. $x^2$\n")
    (folder / "answer.md").write_text(answer + "\n")
    return folder


def add_artifact(app, slug: str, figure_key: str, statistics: dict, revision: str = "r1",
                 figure: dict | None = None):
    """Insert ground truth as the worker would (tests stand in for the GPU worker here);
    `figure` (plotly JSON) defaults to a fixed 2-bar chart."""
    import sqlalchemy as sa

    from puzzle_platform.artifacts import store_artifact
    from puzzle_platform.extensions import db
    from puzzle_platform.models import Puzzle

    with app.app_context():
        puzzle = db.session.scalar(sa.select(Puzzle).where(Puzzle.slug == slug))
        artifact, changes = store_artifact(
            puzzle.id, figure_key, statistics=statistics,
            figure=figure or {"data": [{"type": "bar", "x": [0.1, 0.2], "y": [3, 4]}],
                              "layout": {"title": {"text": "fig"}}},
            provenance={"model": "tiny", "revision": revision, "weights": "raw", "code_version": "test/1"},
            recipe="embedding_cosine", params={})
        return artifact.id, artifact.version, len(changes)


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
