"""The embedded default's worker: `manage.py worker` as a child of `manage.py run`.

A separate process, so that a CPU job (which keeps both cores busy for minutes) never blocks
the web server; it shares the SQLite database and the filesystem broker under instance/.
"""
from __future__ import annotations

import os
import subprocess
import sys

from flask import Flask

from ..config import REPO_ROOT


def start_local_worker(app: Flask) -> subprocess.Popen:
    env = {**os.environ, "PUZZLES_INSTANCE": app.instance_path}
    env.setdefault("DATABASE_URL", app.config["SQLALCHEMY_DATABASE_URI"])
    return subprocess.Popen([sys.executable, str(REPO_ROOT / "manage.py"), "worker", "--loglevel=WARNING"],
                            cwd=REPO_ROOT, env=env)
