"""`manage.py run` (what `dev.py run` execs) logs each request once on its terminal.

It migrates first, and Alembic's env.py (logging.config.fileConfig) installs a console handler
on the root logger; left there next to ours, every request line was printed twice. Run the
real command in a subprocess (setup included, the local worker left out) and count the lines.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid

from tests.helpers import REPO


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_manage_run_logs_one_line_per_request(tmp_path):
    port, log = _free_port(), tmp_path / "server.log"
    (tmp_path / "puzzles").mkdir()
    env = {**os.environ, "PUZZLES_INSTANCE": str(tmp_path / "instance"), "PUZZLES_DIR": str(tmp_path / "puzzles"),
           "DATABASE_URL": f"sqlite:///{tmp_path / 'run.sqlite3'}", "SECRET_KEY": "k", "LOG_FORMAT": "text"}
    env.pop("PUZZLES_PRODUCTION", None)
    proc = subprocess.Popen([sys.executable, str(REPO / "manage.py"), "run", "--no-worker", "--port", str(port)],
                            cwd=REPO, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT,
                            start_new_session=True)
    marker = f"/no-such-page-{uuid.uuid4().hex}"
    try:
        deadline = time.monotonic() + 120
        while "serving on" not in log.read_text():
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.1)
        answered = None
        while answered is None:  # the line is printed before the socket listens
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}{marker}", timeout=10)
            except urllib.error.HTTPError as exc:
                answered = exc.code
            except urllib.error.URLError:
                assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
                time.sleep(0.1)
        assert answered == 404
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    lines = [line for line in log.read_text().splitlines() if marker in line]
    assert len(lines) == 1, "\n".join(lines)
    assert f"GET {marker} 404" in lines[0] and "puzzle_platform.request" in lines[0]
