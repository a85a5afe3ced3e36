"""Production mode: configuration, JSON logs, gunicorn, no migration at start-up, the guide."""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import sqlalchemy as sa

from puzzle_platform import create_app
from puzzle_platform.config import ConfigError, load_config, server_settings
from tests.helpers import csrf_token, make_app

REPO = Path(__file__).resolve().parent.parent


# ---- configuration ----------------------------------------------------------------------

@pytest.mark.parametrize("flag", ["1", "true", True])
def test_production_overrides_drive_the_derived_settings(tmp_path, flag):
    cfg = load_config(str(tmp_path), {"PUZZLES_PRODUCTION": flag, "SECRET_KEY": "s"})
    assert cfg["SESSION_COOKIE_SECURE"] is True and cfg["REMEMBER_COOKIE_SECURE"] is True
    assert cfg["SESSION_COOKIE_HTTPONLY"] is True and cfg["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert cfg["LOG_FORMAT"] == "json"


def test_embedded_default_is_not_production(tmp_path, monkeypatch):
    monkeypatch.delenv("PUZZLES_PRODUCTION", raising=False)
    monkeypatch.delenv("LOG_FORMAT", raising=False)
    cfg = load_config(str(tmp_path), {"SECRET_KEY": "s"})
    assert cfg["SESSION_COOKIE_SECURE"] is False and cfg["LOG_FORMAT"] == "text"
    assert (cfg["LOGIN_FAILURES_PER_ACCOUNT_ADDRESS"], cfg["LOGIN_FAILURES_PER_ACCOUNT"],
            cfg["LOGIN_FAILURE_WINDOW"], cfg["REGISTRATIONS_PER_ADDRESS"]) == (5, 20, 900, 5)
    assert cfg["TRUSTED_PROXY_COUNT"] == 0


def test_production_needs_a_secret_key(tmp_path, monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        load_config(str(tmp_path), {"PUZZLES_PRODUCTION": "1"})
    assert not (tmp_path / "secret_key").exists()  # no key is invented for production


def test_bad_log_format_is_refused_at_start_up(tmp_path):
    with pytest.raises(ConfigError, match="LOG_FORMAT"):
        load_config(str(tmp_path), {"SECRET_KEY": "s", "LOG_FORMAT": "xml"})


def test_server_settings():
    cores = os.cpu_count() or 1
    assert server_settings({}) == {"bind": "0.0.0.0:8000", "workers": 2 * cores + 1, "threads": 4,
                                   "timeout": 60, "graceful_timeout": 30}
    assert server_settings({"PORT": "9000"})["bind"] == "0.0.0.0:9000"
    assert server_settings({"PORT": "9000", "BIND": "unix:/run/puzzles.sock"})["bind"] == "unix:/run/puzzles.sock"
    assert server_settings({"WEB_CONCURRENCY": "3", "WEB_THREADS": "1"})["workers"] == 3
    with pytest.raises(ConfigError):
        server_settings({"WEB_THREADS": "0"})


def test_create_app_never_migrates(tmp_path):
    empty = tmp_path / "empty.sqlite3"
    app = create_app({"SECRET_KEY": "s", "INSTANCE_PATH": str(tmp_path / "i"),
                      "SQLALCHEMY_DATABASE_URI": f"sqlite:///{empty}"})
    r = app.test_client().get("/healthz")
    assert r.status_code == 503 and "manage.py db upgrade" in r.get_json()["reasons"][0]
    with app.app_context():
        assert sa.inspect(app.extensions["sqlalchemy"].engine).get_table_names() == []


def test_every_variable_in_the_deploy_guide_is_configured():
    guide = (REPO / "docs" / "DEPLOY.md").read_text()
    config_source = (REPO / "puzzle_platform" / "config.py").read_text()
    names = set(re.findall(r"\b([A-Z][A-Z0-9_]{2,})=", guide))  # NAME=value in examples
    names |= {n for line in guide.splitlines() if line.startswith("| `")  # the variables table
              for n in re.findall(r"`([A-Z][A-Z0-9_]{2,})`", line.split("|")[1])}
    assert {"DATABASE_URL", "CELERY_BROKER_URL", "SECRET_KEY", "PUZZLES_PRODUCTION"} <= names
    missing = sorted(n for n in names if f'"{n}"' not in config_source)
    assert missing == [], f"docs/DEPLOY.md uses variables config.py does not know: {missing}"


# ---- logs -------------------------------------------------------------------------------

def _json_lines(err: str) -> list[dict]:
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines, "nothing was logged"
    return [json.loads(line) for line in lines]  # every line is JSON


def test_json_logs_one_line_per_request_without_secrets(tmp_path, template_db, capsys):
    app = make_app(tmp_path, template_db, LOG_FORMAT="json")
    client = app.test_client()
    capsys.readouterr()
    secret = "Very-Secret-Pass-9876"
    client.post("/register", data={"csrf_token": csrf_token(client, "/register"), "username": "ada",
                                   "display_name": "Ada", "email": "ada@example.org",
                                   "password": secret, "confirm": secret})
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    client.post("/login?next=/leaderboard&token=query-secret",
                data={"csrf_token": csrf_token(client), "username": "ada", "password": secret + "x"})
    r = client.get("/healthz", headers={"X-Request-ID": "req-42"})
    assert r.headers["X-Request-ID"] == "req-42"
    err = capsys.readouterr().err
    assert secret not in err and "query-secret" not in err and "csrf" not in err.lower()
    entries = _json_lines(err)
    requests = [e for e in entries if e["logger"] == "puzzle_platform.request"]
    assert [(e["method"], e["path"], e["status"]) for e in requests] == [
        ("GET", "/register", 200), ("POST", "/register", 302), ("GET", "/", 200), ("POST", "/logout", 302),
        ("GET", "/login", 200), ("POST", "/login", 400), ("GET", "/healthz", 200)]
    assert requests[2]["user_id"] == "1" and "user_id" not in requests[0]
    assert all(isinstance(e["duration_ms"], float) and e["ts"].endswith("Z") for e in requests)
    assert requests[-1]["request_id"] == "req-42"
    assert len({e["request_id"] for e in requests}) == len(requests)  # generated ids are unique


def test_request_ids_are_generated_and_forged_ones_replaced(client):
    generated = client.get("/healthz").headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    forged = client.get("/healthz", headers={"X-Request-ID": "x\" injected=1 " + "a" * 200})
    assert re.fullmatch(r"[0-9a-f]{32}", forged.headers["X-Request-ID"])


def test_app_records_and_errors_are_json_with_the_request_id(tmp_path, template_db, capsys):
    app = make_app(tmp_path, template_db, LOG_FORMAT="json", TESTING=False)

    def boom():
        app.logger.info("about to fail")
        raise RuntimeError("kaput")

    app.add_url_rule("/boom-for-test", view_func=boom)
    capsys.readouterr()
    r = app.test_client().get("/boom-for-test", headers={"X-Request-ID": "rid-7"})
    assert r.status_code == 500 and r.headers["X-Request-ID"] == "rid-7"
    entries = _json_lines(capsys.readouterr().err)
    mine = [e for e in entries if e.get("request_id") == "rid-7"]
    assert {"about to fail"} <= {e["message"] for e in mine}
    assert any("RuntimeError: kaput" in e.get("exc", "") and e["level"] == "ERROR" for e in mine)
    assert any(e.get("status") == 500 and e["path"] == "/boom-for-test" for e in mine)


def test_text_logs_in_the_embedded_default(tmp_path, template_db, capsys):
    app = make_app(tmp_path, template_db, LOG_FORMAT="text")
    capsys.readouterr()
    app.test_client().get("/healthz")
    err = capsys.readouterr().err
    assert re.search(r"INFO puzzle_platform\.request: GET /healthz 200 [\d.]+ms user=-", err)


def test_a_path_with_cr_lf_cannot_forge_a_text_log_line(tmp_path, template_db, capsys):
    app = make_app(tmp_path, template_db, LOG_FORMAT="text")
    capsys.readouterr()
    app.test_client().get("/nothing%0d%0a2026-01-01 00:00:00,000 INFO puzzle_platform.request: POST /admin 200")
    lines = [line for line in capsys.readouterr().err.splitlines() if "puzzle_platform.request" in line]
    assert len(lines) == 1, lines  # one request, one line
    assert lines[0].split(" INFO ")[0] != "2026-01-01 00:00:00,000" and "\\r\\n" in lines[0]


# ---- gunicorn ---------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_gunicorn_serves_the_app_with_json_logs(tmp_path, template_db):
    pytest.importorskip("gunicorn")
    shutil.copy(template_db, tmp_path / "db.sqlite3")
    port = _free_port()
    env = {**os.environ, "PUZZLES_PRODUCTION": "1", "SECRET_KEY": "gunicorn-test-secret",
           "PUZZLES_INSTANCE": str(tmp_path / "instance"), "BIND": f"127.0.0.1:{port}",
           "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}", "WEB_CONCURRENCY": "1",
           "WEB_THREADS": "2", "CELERY_BROKER_URL": "filesystem://localhost/"}
    env.pop("LOG_FORMAT", None)
    log = (tmp_path / "gunicorn.log").open("w+")
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", str(REPO / "gunicorn.conf.py"),
                             "--no-control-socket", "puzzle_platform:create_app()"],
                            cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline, response = time.monotonic() + 30, None
        while response is None:
            assert proc.poll() is None, (tmp_path / "gunicorn.log").read_text()
            assert time.monotonic() < deadline, "gunicorn did not answer"
            try:
                response = urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2)
            except OSError:
                time.sleep(0.2)
        assert response.status == 200 and json.load(response)["database"]["ok"] is True
        assert response.headers["Strict-Transport-Security"] and response.headers["X-Request-ID"]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    entries = _json_lines((tmp_path / "gunicorn.log").read_text())  # gunicorn's lines too
    assert any(e["logger"] == "gunicorn.error" for e in entries)
    assert any(e.get("path") == "/healthz" and e.get("status") == 200 for e in entries)
    assert not any(e["logger"] == "gunicorn.access" for e in entries)  # the app logs requests
