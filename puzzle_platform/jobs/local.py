"""The embedded default's worker: `manage.py worker` as a child of `manage.py run`.

A separate process, so that a CPU job (which keeps both cores busy for minutes) never blocks
the web server; it shares the SQLite database and the filesystem broker under instance/.

It runs in its own session (process group), so that it can be killed as a group with its
pool children, and so that a signal to the terminal's group (Ctrl-C) reaches only the server,
which then stops the worker itself: SIGTERM, up to WORKER_SHUTDOWN_SECONDS (the worker's own
deadline) plus a margin, then SIGKILL to the worker's whole group. Should the server die
without doing so (kill -9), the worker notices its parent is gone and stops by itself.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from typing import Callable

from flask import Flask

from ..config import REPO_ROOT
from .shutdown import STOP_SIGNALS, stop_signals_to_handle

KILL_MARGIN = 5.0  # seconds the server waits past the worker's own deadline before SIGKILL


def start_local_worker(app: Flask) -> subprocess.Popen:
    env = {**os.environ, "PUZZLES_INSTANCE": app.instance_path}
    env.setdefault("DATABASE_URL", app.config["SQLALCHEMY_DATABASE_URI"])
    argv = [sys.executable, str(REPO_ROOT / "manage.py"), "worker", "--loglevel=WARNING",
            f"--parent-pid={os.getpid()}"]
    return subprocess.Popen(argv, cwd=REPO_ROOT, env=env, start_new_session=os.name == "posix")


def stop_local_worker(proc: subprocess.Popen, deadline: float, say: Callable[[str], None] = print) -> None:
    """Stop the worker within `deadline` + KILL_MARGIN seconds, leaving none of its processes."""
    if proc.poll() is None:
        say(f"stopping the worker (pid {proc.pid}; up to {deadline:g} s for its running job)")
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=deadline + KILL_MARGIN)
        except subprocess.TimeoutExpired:
            say("the worker did not stop in time; killing it")
    _kill_group(proc)
    proc.wait()


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL what is left of the worker's group (a stuck worker, or an orphaned pool child)."""
    if os.name != "posix":
        proc.kill()
        return
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


class StopRequested(KeyboardInterrupt):
    """SIGTERM, SIGINT or SIGHUP to the server: leave the serve loop the way Ctrl-C does
    (werkzeug's serve_forever returns on KeyboardInterrupt), so its cleanup runs."""


def raise_on_stop_signals() -> None:
    """From now on a stop signal (one not ignored on purpose, see stop_signals_to_handle)
    raises StopRequested in the main thread."""
    def handler(signum: int, _frame) -> None:
        raise StopRequested(signal.Signals(signum).name)

    for sig in stop_signals_to_handle():
        signal.signal(sig, handler)


def ignore_stop_signals() -> None:
    """While cleaning up: a second signal (a terminal sends SIGHUP then SIGTERM) must not cut
    the cleanup short."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
