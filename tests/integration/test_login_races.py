"""The login gate under parallel requests on real PostgreSQL: N wrong passwords sent at once
to one account from one address run at most the limit's number of password checks, and a
crowd of addresses over the account's ceiling gets one check per delay, not one each."""
from __future__ import annotations

import threading

import pytest
from freezegun import freeze_time

from puzzle_platform.models import User
from puzzle_platform.timeutil import utcnow
from tests.helpers import counting_password_checks, csrf_token

pytestmark = pytest.mark.services



def _storm(app, n: int, address_of) -> list[int]:
    statuses, lock, barrier = [], threading.Lock(), threading.Barrier(n)

    def attempt(i: int) -> None:
        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = address_of(i)
        token = csrf_token(client)
        barrier.wait()
        r = client.post("/login", data={"csrf_token": token, "username": "ada", "password": "wrong password!"})
        with lock:
            statuses.append(r.status_code)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
        assert not t.is_alive()
    return statuses


def test_thirty_parallel_guesses_from_one_address_run_five_checks(app, auth, monkeypatch):
    auth.create_user("ada")
    checks = counting_password_checks(monkeypatch)
    statuses = _storm(app, 30, lambda i: "203.0.113.1")
    assert len(checks) == 5
    assert sorted(statuses) == [400] * 5 + [429] * 25


def test_parallel_guesses_from_many_addresses_stop_at_the_ceiling(app, auth, monkeypatch):
    auth.create_user("ada")
    app.config.update(LOGIN_FAILURES_PER_ACCOUNT=10, LOGIN_MAX_DELAY=300)
    checks = counting_password_checks(monkeypatch)
    with freeze_time(utcnow().replace(minute=0, second=1, microsecond=0)):  # one window, no delay passes
        statuses = _storm(app, 30, lambda i: f"203.0.113.{i}")
    # ten under the ceiling, then the eleventh (its delay not started yet), then nothing
    assert len(checks) == 11
    assert sorted(statuses) == [400] * 11 + [429] * 19


def test_parallel_registrations_of_one_name_in_any_case_make_one_account(app):
    import sqlalchemy as sa

    from puzzle_platform.extensions import db

    app.config["REGISTRATIONS_PER_ADDRESS"] = 100
    statuses, lock = [], threading.Lock()
    variants = ["Dee", "dee", "DEE", "dEe", "deE", "DeE"]
    barrier = threading.Barrier(len(variants) * 2)

    def register(username: str, email: str) -> None:
        client = app.test_client()
        token = csrf_token(client, "/register")
        barrier.wait()
        r = client.post("/register", data={"csrf_token": token, "username": username, "display_name": "D",
                                           "email": email, "password": "violet-kettle-42",
                                           "confirm": "violet-kettle-42"})
        with lock:
            statuses.append(r.status_code)

    threads = [threading.Thread(target=register, args=(name, f"{i}@example.org")) for i, name in enumerate(variants)]
    threads += [threading.Thread(target=register, args=(f"same{i}", "same@example.org")) for i in range(len(variants))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert sorted(statuses) == [302] * 2 + [400] * (len(threads) - 2)  # never a 500
    with app.app_context():
        names = db.session.scalars(sa.select(User.username)).all()
        assert sum(n.lower() == "dee" for n in names) == 1 and sum(n.startswith("same") for n in names) == 1
