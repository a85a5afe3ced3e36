"""Load test: N scholars submit M answers each through the real HTML forms (cookie jar, CSRF),
then the database is read to prove every accepted submission is stored exactly once.

Each request's value is a unique marker (RUN*10^12 + client*10^6 + i): "lost" = accepted (HTTP
303/201/202) but not stored, "doubled" = stored twice. Connection errors are retried without
risking a double: a refused connection at once (nothing reached a server), any other only after
the scholar's own attempt list shows the marker absent; timeouts never (the server may still
commit). Prints throughput, p50/p95/p99 latency, 5xx (none may reach a user), lost, doubled.

    python bench/load_test.py --url http://127.0.0.1:8000 --database-url URL --target LABEL
    python bench/load_test.py --spawn gunicorn-postgres|embedded-sqlite --clients 50 --per-client 400

The server under test needs WRONG_ANSWER_WAITS=0 and the load-test puzzle (write_load_puzzle:
1000 attempts per question, a literal truth no marker hits, so each attempt is graded at once
as wrong); --spawn sets both up on 127.0.0.1 (fresh PostgreSQL schema or SQLite file).
"""
from __future__ import annotations

import argparse
import http.client
import http.cookiejar
import ipaddress
import math
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

REPO = Path(__file__).resolve().parent.parent
LOAD_SLUG = "load-test"
QUESTIONS = ("q1", "q2", "q3", "q4")
PASSWORD = "correct horse load battery"
ACCEPTED = (201, 202, 303)
CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
PG_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def write_load_puzzle(root: Path, number: int = 99) -> Path:
    """A live puzzle of challenge questions (graded at once) with 1000 attempts each."""
    now = datetime.now(timezone.utc)
    stamp = {name: (now + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")
             for name, days in (("release_at", -1), ("deadline_at", 30), ("reveal_at", 31))}
    questions = "".join(
        f'\n[[questions]]\nkey = "{key}"\nprompt = "Load-test question {key}."\nmode = "challenge"\ngrader = "abs_tol"\n'
        f'grader_params = {{ tolerance = 0.01 }}\ntruth = 0.5\nmax_attempts = 1000\n' for key in QUESTIONS)
    folder = root / f"{number:02d}-{LOAD_SLUG}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "puzzle.toml").write_text('title = "Load test"\n' + "".join(
        f'{k} = "{v}"\n' for k, v in stamp.items()) + questions)
    (folder / "statement.md").write_text("A puzzle for the load test.\n")
    (folder / "answer.md").write_text("None.\n")
    return folder


def require_loopback(url: str) -> None:
    """Refuse anything but http:// on a loopback address: this tool floods its target."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError(f"refusing {url!r}: give an http:// URL on 127.0.0.1")
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(parts.hostname, parts.port or 80)}
    except socket.gaierror as exc:
        raise ValueError(f"refusing {url!r}: cannot resolve {parts.hostname} ({exc})") from None
    if not all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addresses):
        raise ValueError(f"refusing {url!r}: {parts.hostname} is not a loopback address")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # a 303 is the answer we measure, not followed
        return None


@dataclass
class Result:
    client: int
    marker: str
    status: int | None  # None: no HTTP answer (connection error or timeout)
    latency: float
    error: str = ""
    retries: int = 0
    confirmed: bool = False  # no answer, but the scholar's attempt list shows it was stored

    @property
    def accepted(self) -> bool:
        return self.status in ACCEPTED or self.confirmed


def error_shape(body: str) -> str:
    """The message of the platform's error page, or the raw start of a body that lacks it."""
    match = re.search(r'class="error-message">(.*?)</p>', body, re.S) or re.search(r'"message": ?"([^"]*)"', body)
    return f"error page: {match.group(1).strip()}" if match else "NO ERROR SHAPE: " + re.sub(r"\s+", " ", body)[:200]


def _refused(exc: BaseException) -> bool:
    return isinstance(getattr(exc, "reason", exc), ConnectionRefusedError)


class Scholar:
    """One simulated scholar: its own cookie jar and CSRF token, and safe retries."""

    def __init__(self, base_url: str, number: int, *, timeout: float = 30.0, retry_for: float = 60.0):
        self.base, self.number, self.timeout, self.retry_for = base_url.rstrip("/"), number, timeout, retry_for
        self.username = f"load{number:04d}"
        self.jar = http.cookiejar.CookieJar()
        self._session = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect)
        self._plain = urllib.request.build_opener(_NoRedirect)
        self.token = ""

    def _open(self, method: str, path: str, data: dict | None = None, keep_cookies: bool = True) -> tuple[int, str]:
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        req = urllib.request.Request(self.base + path, data=body, method=method)
        opener = self._session
        if not keep_cookies:  # each 303 flashes a message into the cookie; a browser's next GET pops
            self.jar.add_cookie_header(req)  # it, this client keeps its login cookie instead
            opener = self._plain
        try:
            with opener.open(req, timeout=self.timeout) as resp:
                return resp.status, resp.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as exc:
            with exc:
                return exc.code, exc.read().decode("utf-8", "replace")

    def get(self, path: str) -> str:
        """GET, retrying any connection error (a GET changes nothing) until retry_for runs out."""
        deadline = time.monotonic() + self.retry_for
        while True:
            try:
                status, body = self._open("GET", path)
                if status == 200:
                    return body
                raise RuntimeError(f"GET {path} answered {status}")
            except (OSError, http.client.HTTPException):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def sign_in(self, slug: str = LOAD_SLUG) -> None:
        """Register, or log in when the name is taken (re-runs); then take the form's token."""
        token = CSRF_RE.search(self.get("/register")).group(1)
        form = {"csrf_token": token, "username": self.username, "display_name": f"Load {self.number}",
                "email": f"{self.username}@load.test", "password": PASSWORD, "confirm": PASSWORD}
        try:
            status, _ = self._open("POST", "/register", form)
        except (OSError, http.client.HTTPException):
            status = 0  # maybe registered: logging in settles it
        if status != 302:
            token = CSRF_RE.search(self.get("/login")).group(1)
            status, body = self._open("POST", "/login", {"csrf_token": token, "username": self.username,
                                                          "password": PASSWORD})
            if status != 302:
                raise RuntimeError(f"{self.username} can neither register nor log in ({status})")
        self.token = CSRF_RE.search(self.get(f"/puzzles/{slug}")).group(1)

    def is_stored(self, slug: str, marker: str) -> bool:
        page = self.get(f"/puzzles/{slug}")
        return re.search(rf"(?<![\d.]){marker}\.0(?!\d)", page) is not None

    def submit(self, slug: str, key: str, marker: str) -> Result:
        start, retries = time.perf_counter(), 0
        deadline = time.monotonic() + self.retry_for
        while True:
            try:
                status, body = self._open("POST", f"/puzzles/{slug}/questions/{key}",
                                          {"csrf_token": self.token, "value": marker}, keep_cookies=False)
                error = "" if status < 500 else error_shape(body)
                return Result(self.number, marker, status, time.perf_counter() - start, error, retries)
            except (OSError, http.client.HTTPException) as exc:
                error = f"{type(exc).__name__}: {exc}"
                if isinstance(exc, TimeoutError) or time.monotonic() > deadline:
                    return Result(self.number, marker, None, time.perf_counter() - start, error, retries)
                try:
                    if not _refused(exc) and self.is_stored(slug, marker):
                        return Result(self.number, marker, None, time.perf_counter() - start, error,
                                      retries, confirmed=True)
                except (OSError, http.client.HTTPException, RuntimeError):
                    pass
                retries += 1
                time.sleep(0.2)


@dataclass
class LoadReport:
    target: str
    clients: int
    per_client: int
    results: list[Result] = field(default_factory=list)
    wall: float = 0.0
    stopped_early: bool = False
    check: dict | None = None


def run_load(url: str, clients: int, per_client: int, *, target: str = "", slug: str = LOAD_SLUG,
             duration_limit: float | None = None, run_id: int | None = None) -> LoadReport:
    """Sign every client in, then let each submit per_client answers from its own thread."""
    require_loopback(url)
    run_id = run_id or secrets.randbelow(8999) + 1  # markers stay below 2^53: exact as floats
    scholars = [Scholar(url, n) for n in range(clients)]
    with ThreadPoolExecutor(max_workers=min(clients, 16)) as pool:
        list(pool.map(lambda s: s.sign_in(slug), scholars))
    report = LoadReport(target or url, clients, per_client)
    deadline = time.monotonic() + duration_limit if duration_limit else math.inf

    def work(s: Scholar) -> None:
        for i in range(per_client):
            if time.monotonic() > deadline:
                report.stopped_early = True
                return
            marker = str(run_id * 10**12 + s.number * 10**6 + i)
            report.results.append(s.submit(slug, QUESTIONS[i % len(QUESTIONS)], marker))

    start = time.perf_counter()
    threads = [threading.Thread(target=work, args=(s,), daemon=True) for s in scholars]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    report.wall = time.perf_counter() - start
    return report


def verify(database_url: str, report: LoadReport, slug: str = LOAD_SLUG) -> dict:
    """Count stored attempts per marker: lost, doubled, and stored-without-an-answer."""
    import sqlalchemy as sa
    sys.path.insert(0, str(REPO))
    from puzzle_platform.models import Puzzle, Submission

    s, p = Submission.__table__, Puzzle.__table__
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.select(s.c.payload, s.c.status).join(p, p.c.id == s.c.puzzle_id)
                                .where(p.c.slug == slug)).all()
    finally:
        engine.dispose()
    stored = Counter(f"{payload['value']:.0f}" for payload, status in rows
                     if status in ("pending", "graded") and isinstance(payload.get("value"), (int, float)))
    accepted = {r.marker for r in report.results if r.accepted}
    report.check = {
        "lost": sorted(m for m in accepted if stored[m] == 0),
        "doubled": sorted(m for m in {r.marker for r in report.results} if stored[m] > 1),
        "unanswered_but_stored": sorted(r.marker for r in report.results if not r.accepted and stored[r.marker]),
    }
    return report.check


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1))] if ordered else math.nan


def summarize(report: LoadReport) -> dict:
    res, lat = report.results, [r.latency * 1000 for r in report.results if r.status is not None]
    check = report.check or {}
    return {"target": report.target, "clients x per-client": f"{report.clients} x {report.per_client}",
            "submissions": len(res), "accepted": sum(r.accepted for r in res),
            "4xx": sum(1 for r in res if r.status and 400 <= r.status < 500),
            "5xx": sum(1 for r in res if r.status and r.status >= 500),
            "conn. errors": sum(1 for r in res if r.status is None),
            "retries": sum(r.retries for r in res),
            "req/s": f"{len(res) / report.wall:.0f}" if report.wall else "-",
            "p50 ms": f"{_pct(lat, .50):.0f}", "p95 ms": f"{_pct(lat, .95):.0f}", "p99 ms": f"{_pct(lat, .99):.0f}",
            "lost": len(check["lost"]) if check else "?", "doubled": len(check["doubled"]) if check else "?",
            "wall s": f"{report.wall:.1f}"}


def table(rows: list[dict]) -> str:
    head = list(rows[0])
    return "\n".join(["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
                     + ["| " + " | ".join(str(r[k]) for k in head) + " |" for r in rows])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """A web tier on 127.0.0.1 run by this script: gunicorn (any DATABASE_URL; the repository's
    gunicorn.conf.py, i.e. production's settings, unless workers/threads are given) or the
    embedded `manage.py run` (it migrates and syncs itself). start/stop/reload/restart for faults."""

    def __init__(self, kind: str, database_url: str, folder: Path, *, workers: int | None = None,
                 threads: int | None = None):
        self.kind, self.database_url, self.folder = kind, database_url, Path(folder)
        self.workers, self.threads, self.port = workers, threads, free_port()
        self.url, self.proc, self.log = f"http://127.0.0.1:{self.port}", None, self.folder / f"{kind}.log"
        self.env = {**os.environ, "DATABASE_URL": database_url, "SECRET_KEY": secrets.token_hex(16),
                    "PUZZLES_INSTANCE": str(self.folder / "instance"), "PUZZLES_DIR": str(self.folder / "puzzles"),
                    "WRONG_ANSWER_WAITS": "0", "SUBMISSIONS_PER_MINUTE": "1000000",
                    "PUZZLES_PRODUCTION": "0", "PYTHONUNBUFFERED": "1"}

    def _manage(self, *args: str) -> None:
        subprocess.run([sys.executable, str(REPO / "manage.py"), *args], cwd=REPO, env=self.env, check=True,
                       stdout=subprocess.DEVNULL, timeout=120)

    def prepare(self) -> "Server":
        write_load_puzzle(self.folder / "puzzles")
        if self.kind == "gunicorn":
            self._manage("db", "upgrade")
            self._manage("puzzles", "sync")
        return self

    def start(self, timeout: float = 60.0) -> "Server":
        if self.kind == "gunicorn":
            sizes = [f"--{k}={v}" for k, v in (("workers", self.workers), ("threads", self.threads)) if v]
            cmd = [sys.executable, "-m", "gunicorn", f"--bind=127.0.0.1:{self.port}", "--graceful-timeout=10",
                   *sizes, "puzzle_platform:create_app()"]
        else:
            cmd = [sys.executable, str(REPO / "manage.py"), "run", "--no-worker", "--no-compute",
                   "--host", "127.0.0.1", "--port", str(self.port)]
        with self.log.open("a") as log:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen(cmd, cwd=REPO, env=self.env, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} exited with {self.proc.returncode}; see {self.log}")
            try:
                with urllib.request.urlopen(self.url + "/", timeout=5) as resp:
                    if resp.status == 200:
                        return self
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"{self.kind} did not answer within {timeout:g} s; see {self.log}")

    def reload(self) -> None:
        """gunicorn's graceful reload: new workers, old ones finish their requests."""
        self.proc.send_signal(signal.SIGHUP)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, sig)
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        except ProcessLookupError:
            pass

    def restart(self, sig: int = signal.SIGTERM) -> None:
        self.stop(sig)
        self.start()


@contextmanager
def spawned(mode: str, workers: int | None) -> Iterator[tuple[Server, str]]:
    """(server, database URL) on a fresh PostgreSQL schema or SQLite file; removed afterwards."""
    import sqlalchemy as sa

    with tempfile.TemporaryDirectory(prefix="load-test-") as tmp:
        schema, engine = None, None
        if mode == "gunicorn-postgres":
            schema, engine = f"load_{secrets.token_hex(6)}", sa.create_engine(PG_URL)
            with engine.begin() as conn:
                conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
            url = f"{PG_URL}?options=-csearch_path%3D{schema}&application_name=load_test"
            server = Server("gunicorn", url, Path(tmp), workers=workers)
        else:
            url = f"sqlite:///{Path(tmp) / 'load.sqlite3'}"
            server = Server("embedded", url, Path(tmp))
        try:
            yield server.prepare().start(), url
        finally:
            server.stop()
            if engine is not None:
                with engine.begin() as conn:
                    conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
                engine.dispose()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", help="http://127.0.0.1:PORT of a running server (loopback only)")
    ap.add_argument("--spawn", choices=("gunicorn-postgres", "embedded-sqlite"),
                    help="start the server here on a fresh database, load it, verify, tear down")
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--per-client", type=int, default=400)
    ap.add_argument("--duration-limit", type=float, default=None, help="stop sending after S seconds")
    ap.add_argument("--database-url", help="the server's database, to verify what was stored")
    ap.add_argument("--target", default="", help="label for the result table")
    ap.add_argument("--workers", type=int, default=None,
                    help="gunicorn workers with --spawn (default: gunicorn.conf.py's WEB_CONCURRENCY)")
    args = ap.parse_args(argv)
    if bool(args.url) == bool(args.spawn) or args.clients < 1 or args.per_client < 1:
        ap.error("give exactly one of --url or --spawn, and positive --clients/--per-client")
    if args.clients >= 10**4 or args.per_client >= 10**6:
        ap.error("markers allow fewer than 10^4 clients and 10^6 submissions per client")
    try:
        if args.url:
            require_loopback(args.url)
    except ValueError as exc:
        ap.error(str(exc))
    with spawned(args.spawn, args.workers) if args.spawn else nullcontext((None, args.database_url)) as (server, db):
        report = run_load(server.url if server else args.url, args.clients, args.per_client,
                          target=args.target or args.spawn or args.url, duration_limit=args.duration_limit)
        if db:
            verify(db, report)
    row = summarize(report)
    print(table([row]))
    if report.stopped_early:
        print(f"stopped at --duration-limit {args.duration_limit:g} s")
    for r in [r for r in report.results if r.status is None or r.status >= 500][:5]:
        print(f"  failure: client {r.client} marker {r.marker}: {r.status or ''} {r.error}")
    if report.check is None:
        print("not verified: pass --database-url to count stored rows")
    return 0 if row["5xx"] == 0 and row["lost"] in (0, "?") and row["doubled"] in (0, "?") else 1


if __name__ == "__main__":
    sys.exit(main())
