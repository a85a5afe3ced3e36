"""Start the embedded default's worker as a child process (placeholder until the queue lands)."""
from __future__ import annotations

import subprocess
import sys

from flask import Flask


def start_local_worker(app: Flask) -> subprocess.Popen | None:
    """Start `manage.py worker` beside the web server; None when no worker command exists."""
    if "worker" not in app.cli.commands:
        return None
    return subprocess.Popen([sys.executable, "-m", "flask", "--app", "puzzle_platform", "worker"])
