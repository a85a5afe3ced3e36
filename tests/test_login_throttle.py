"""Login throttling."""
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from freezegun import freeze_time

from puzzle_platform.extensions import db
from puzzle_platform.models import RateCounter
from puzzle_platform.timeutil import utcnow
from tests.helpers import csrf_token, make_app

PASSWORD = "correct horse battery"


def _login(client, username, password, **kwargs):
    return client.post("/login", data={"csrf_token": csrf_token(client), "username": username,
                                       "password": password}, **kwargs)


def _without_digits(text: str) -> str:
    return re.sub(r"\d+", "N", text)


def test_five_failures_lock_the_name_even_for_the_right_password(app, client, auth):
    auth.create_user("ada")
    for _ in range(5):
        r = _login(client, "ada", "wrong password!")
        assert r.status_code == 400 and "Wrong username or password" in r.get_data(as_text=True)
    r = _login(client, "ADA ", PASSWORD)  # case and spaces do not make a new name
    assert r.status_code == 429
    assert 0 < int(r.headers["Retry-After"]) <= 900
    assert "Too many failed log-in attempts" in r.get_data(as_text=True)
    with client.session_transaction() as sess:
        assert "_user_id" not in sess
    with app.app_context():  # the typed name is stored hashed, never as typed
        keys = db.session.scalars(sa.select(RateCounter.key)).all()
        assert keys and not any("ada" in k.lower() for k in keys)


def test_lockout_looks_the_same_for_unknown_names(client, auth):
    auth.create_user("ada")
    responses = {}
    for name in ("ada", "nobody-here"):
        for _ in range(5):
            r = _login(client, name, "wrong password!")
            assert r.status_code == 400 and "Wrong username or password" in r.get_data(as_text=True)
        responses[name] = _login(client, name, "wrong password!")
    known, unknown = responses["ada"], responses["nobody-here"]
    assert known.status_code == unknown.status_code == 429
    assert _without_digits(known.get_data(as_text=True)) == _without_digits(unknown.get_data(as_text=True))
    assert {k for k, _ in known.headers} == {k for k, _ in unknown.headers}


def test_json_clients_get_the_json_error_shape(client, auth):
    for _ in range(5):
        _login(client, "ghost", "wrong password!")
    r = _login(client, "ghost", "wrong password!", headers={"Accept": "application/json"})
    assert r.status_code == 429 and r.headers["Retry-After"]
    assert r.get_json()["error"]["message"].startswith("Too many failed log-in attempts")


def test_successful_logins_are_not_counted(client, auth):
    auth.create_user("ada")
    for _ in range(8):
        assert _login(client, "ada", PASSWORD).status_code == 302
        auth.logout()
    for _ in range(4):
        assert _login(client, "ada", "wrong password!").status_code == 400
    assert _login(client, "ada", PASSWORD).status_code == 302


def test_lock_lifts_after_the_window(client, auth):
    auth.create_user("ada")
    start = utcnow().replace(minute=0, second=1, microsecond=0) + timedelta(hours=1)
    with freeze_time(start) as clock:
        for _ in range(5):
            _login(client, "ada", "wrong password!")
        r = _login(client, "ada", PASSWORD)
        assert r.status_code == 429 and int(r.headers["Retry-After"]) == 899
        clock.tick(timedelta(minutes=15))
        assert _login(client, "ada", PASSWORD).status_code == 302


def test_per_ip_limit_across_names(tmp_path, template_db):
    app = make_app(tmp_path, template_db, LOGIN_FAILURES_PER_IP=3)
    client = app.test_client()
    for name in ("a1", "a2", "a3"):
        assert _login(client, name, "wrong password!").status_code == 400
    assert _login(client, "a4", "wrong password!").status_code == 429  # a fresh name, same IP
    other = app.test_client()
    other.environ_base["REMOTE_ADDR"] = "203.0.113.9"
    assert _login(other, "a4", "wrong password!").status_code == 400


def test_forwarded_for_is_ignored_unless_a_proxy_is_trusted(tmp_path, template_db):
    untrusting = make_app(tmp_path, template_db, name="direct", LOGIN_FAILURES_PER_IP=2)
    client = untrusting.test_client()
    for i in range(2):
        _login(client, f"n{i}", "x-wrong-password", headers={"X-Forwarded-For": f"198.51.100.{i}"})
    # Forging X-Forwarded-For does not escape the limit when no proxy is configured.
    r = _login(client, "n9", "x-wrong-password", headers={"X-Forwarded-For": "198.51.100.77"})
    assert r.status_code == 429

    behind_nginx = make_app(tmp_path, template_db, name="proxied", LOGIN_FAILURES_PER_IP=2,
                            TRUSTED_PROXY_COUNT=1)
    client = behind_nginx.test_client()
    for i in range(2):
        _login(client, f"n{i}", "x-wrong-password", headers={"X-Forwarded-For": "198.51.100.1"})
    assert _login(client, "n8", "x-wrong-password", headers={"X-Forwarded-For": "198.51.100.1"}).status_code == 429
    # Behind the proxy, visitors are told apart by the address the proxy saw.
    assert _login(client, "n9", "x-wrong-password", headers={"X-Forwarded-For": "198.51.100.2"}).status_code == 400
