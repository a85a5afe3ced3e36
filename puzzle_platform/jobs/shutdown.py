"""A worker stops when told, within WORKER_SHUTDOWN_SECONDS, and leaves no job stuck 'running'.

Celery's own shutdown is not bounded: SIGTERM and the first SIGINT start a warm shutdown that
waits for the running job however long it takes (its worker_soft_shutdown_timeout bounds only
cold shutdowns, SIGQUIT or a second Ctrl-C), and a worker without a terminal re-executes itself
on SIGHUP. A pool child that got the same signal (a signal to the whole process group) dies,
and a warm shutdown waiting on it was seen to hang for over 90 minutes. So here:

- SIGHUP stops the worker like SIGTERM (a closed terminal, or a parent going away);
- a signal before Celery has installed its handlers exits at once (there is no job yet);
- the first shutdown signal starts a watchdog: past the deadline it kills the pool children,
  requeues their job and exits (a cold shutdown of our own);
- on the way out, in either case, the jobs of this worker's processes are requeued, as the
  recovery at the next start would do after a crash (the job row is the truth, not the broker);
- with --parent-pid (`manage.py run` passes its own), the worker also stops when its
  parent is gone, so that a killed server never leaves an orphan worker holding the database.
"""
from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from typing import Callable

from celery import Celery
from flask import Flask

log = logging.getLogger(__name__)
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGINT", "SIGHUP")
                     if hasattr(signal, name))  # no SIGHUP on Windows


def stop_signals_to_handle() -> list[signal.Signals]:
    """The stop signals not ignored when we started: `nohup` (SIGHUP) and a shell's background
    jobs (SIGINT) ignore some on purpose, and that choice is kept."""
    return [sig for sig in STOP_SIGNALS if signal.getsignal(sig) is not signal.SIG_IGN]


class WorkerShutdown:
    """The stopping side of one `manage.py worker` process (its main process)."""

    def __init__(self, app: Flask, deadline: float, forget: Callable[[], None]):
        self.app, self.deadline, self.forget = app, deadline, forget
        self.handled = stop_signals_to_handle()
        self._lock = threading.Lock()
        self._started = threading.Event()
        self._done = False

    def install_early_handlers(self) -> None:
        """Until Celery takes over the signals: stop at once (no child process, no job yet)."""
        def exit_at_once(signum: int, _frame) -> None:
            self.begin()  # in case it lands inside Celery's start-up, which may then wait
            raise SystemExit(128 + signum)

        for sig in self.handled:
            signal.signal(sig, exit_at_once)

    def attach(self, celery: Celery) -> None:
        """Start the watchdog on Celery's shutdown signal, and make SIGHUP stop, not restart."""
        from celery import platforms, signals

        signals.worker_shutting_down.connect(lambda **_: self.begin(), weak=False)
        if not hasattr(signal, "SIGHUP"):
            return
        base, hup = celery.Worker, signal.SIGHUP in self.handled

        class Worker(base):  # type: ignore[misc, valid-type]
            def install_platform_tweaks(self, worker):
                super().install_platform_tweaks(worker)
                platforms.signals["SIGHUP"] = platforms.signals["SIGTERM"] if hup else signal.SIG_IGN

        celery.Worker = Worker

    def watch_parent(self, parent: int, every: float = 1.0) -> None:
        """Stop (as on SIGTERM) once `parent`, the process that started us, is gone (we were
        reparented; checked from the start, in case it died while we were booting)."""
        def loop() -> None:
            while os.getppid() == parent:
                time.sleep(every)
            log.warning("the parent process %s is gone; stopping", parent)
            os.kill(os.getpid(), signal.SIGTERM)

        threading.Thread(target=loop, daemon=True, name="watch-parent").start()

    def begin(self) -> None:
        """A shutdown began: past the deadline, stop the hard way."""
        if self._started.is_set():
            return
        self._started.set()
        threading.Thread(target=self._watchdog, daemon=True, name="shutdown-watchdog").start()

    def _watchdog(self) -> None:
        time.sleep(self.deadline)
        if not self._lock.acquire(timeout=5):  # finish() is stuck: exit regardless
            os._exit(1)
        if self._done:
            self._lock.release()
            return
        log.warning("the worker did not stop within %g s: killing its pool processes (cold shutdown)",
                    self.deadline)
        try:
            self._stop_children_and_requeue(f"the worker was stopped, its job killed after {self.deadline:g} s")
        finally:
            os._exit(1)

    def finish(self) -> None:
        """After Celery returned (or failed to start): no child left, no job left running.
        Called from the main thread; a further stop signal must not cut it short."""
        for sig in self.handled:
            signal.signal(sig, signal.SIG_IGN)
        with self._lock:
            if self._done:
                return
            self._done = True
            self._stop_children_and_requeue("the worker was stopped")

    def _stop_children_and_requeue(self, why: str) -> None:
        children = _kill_children()
        with self.app.app_context():
            from ..extensions import db
            from .queue import requeue_jobs_of, worker_id
            host = socket.gethostname()
            try:
                requeued = requeue_jobs_of([worker_id(), *(f"{host}:{pid}" for pid in children)], why)
                if requeued:
                    log.warning("requeued job(s) %s: %s", requeued, why)
            except Exception:  # noqa: BLE001 - the next worker start recovers them (dead pids)
                db.session.rollback()
                log.warning("could not requeue this worker's jobs on the way out", exc_info=True)
            try:
                self.forget()
            except Exception:  # noqa: BLE001 - shutting down; the liveness row ages out instead
                log.warning("could not remove this worker's liveness row", exc_info=True)
            finally:
                db.session.remove()


def _kill_children() -> list[int]:
    """SIGKILL this process's pool children (billiard tracks them) and reap them; their pids."""
    try:
        from billiard.process import active_children
        children = list(active_children())
    except Exception:  # noqa: BLE001 - no pool (solo) or billiard gone: nothing to kill
        return []
    for child in children:
        try:
            os.kill(child.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for child in children:
        try:
            child.join(timeout=2)
        except Exception:  # noqa: BLE001 - reaped elsewhere already
            pass
    return [c.pid for c in children if c.pid]
