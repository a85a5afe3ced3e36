"""Login throttling: per (account, source) and a per-account ceiling with growing delays;
registration limited per address; redirects after login."""
import re
import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa
from freezegun import freeze_time

from puzzle_platform.extensions import db
from puzzle_platform.models import RateCounter, User
from puzzle_platform.timeutil import utcnow
from tests.helpers import counting_password_checks, csrf_token, make_app

PASSWORD = "correct horse battery"
WRONG = "wrong password!"


def _login(client, username, password, **kwargs):
    return client.post("/login", data={"csrf_token": csrf_token(client), "username": username,
                                       "password": password}, **kwargs)


def _from(app, address: str, cookie_of=None):
    """A browser at `address` (optionally carrying another client's device cookie)."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    if cookie_of is not None:
        cookie = cookie_of.get_cookie("login_device", path="/login")
        client.set_cookie("login_device", cookie.value, path="/login")
    return client


def _without_digits(text: str) -> str:
    return re.sub(r"\d+", "N", text)


def _at_window_start():
    """A frozen time one second into a fresh 15-minute window (so no test straddles two)."""
    return freeze_time(utcnow().replace(minute=0, second=1, microsecond=0) + timedelta(hours=1))


def _app_with_ada(tmp_path, template_db, **config):
    app = make_app(tmp_path, template_db, **config)
    with app.app_context():
        user = User(username="ada", email="ada@example.org", role="scholar", display_name="Ada")
        user.set_password(PASSWORD)
        db.session.add(user)
        db.session.commit()
    return app


def test_five_failures_from_one_address_lock_that_address_out_of_that_account(app, client, auth):
    auth.create_user("ada")
    for _ in range(5):
        r = _login(client, "ada", WRONG)
        assert r.status_code == 400 and "Wrong username or password" in r.get_data(as_text=True)
    r = _login(client, "ADA ", PASSWORD)  # case and spaces do not make a new name
    assert r.status_code == 429
    assert 0 < int(r.headers["Retry-After"]) <= 900
    assert "Too many failed log-in attempts" in r.get_data(as_text=True)
    with client.session_transaction() as sess:
        assert "_user_id" not in sess
    with app.app_context():  # neither the typed name nor the address is stored as typed
        keys = db.session.scalars(sa.select(RateCounter.key)).all()
        assert keys and not any("ada" in k.lower() or "127.0.0.1" in k for k in keys)


def test_username_and_email_count_as_one_account(client, auth):
    auth.create_user("ada")
    for name in ("ada", "ada@example.org", "Ada", "ADA@EXAMPLE.ORG", "ada"):
        assert _login(client, name, WRONG).status_code == 400
    assert _login(client, "ada@example.org", PASSWORD).status_code == 429


def test_another_address_still_gets_in(app, auth):
    """The victim is not locked out by an attacker's failures at their own address."""
    auth.create_user("ada")
    attacker = _from(app, "203.0.113.66")
    for _ in range(5):
        _login(attacker, "ada", WRONG)
    assert _login(attacker, "ada", PASSWORD).status_code == 429
    assert _login(_from(app, "198.51.100.7"), "ada", PASSWORD).status_code == 302


def test_one_address_does_not_lock_out_other_accounts(app, auth):
    """Behind a proxy that was not declared, every visitor shares an address: failures on one
    account must not lock the others."""
    for name in ("ada", "bob"):
        auth.create_user(name)
    shared = _from(app, "10.0.0.1")
    for i in range(30):
        _login(shared, f"guess{i}", WRONG)
    for _ in range(5):
        _login(shared, "ada", WRONG)
    assert _login(_from(app, "10.0.0.1"), "bob", PASSWORD).status_code == 302


def test_lockout_looks_the_same_for_unknown_names(client, auth):
    auth.create_user("ada")
    responses = {}
    for name in ("ada", "nobody-here"):
        for _ in range(5):
            r = _login(client, name, WRONG)
            assert r.status_code == 400 and "Wrong username or password" in r.get_data(as_text=True)
        responses[name] = _login(client, name, WRONG)
    known, unknown = responses["ada"], responses["nobody-here"]
    assert known.status_code == unknown.status_code == 429
    assert _without_digits(known.get_data(as_text=True)) == _without_digits(unknown.get_data(as_text=True))
    assert {k for k, _ in known.headers} == {k for k, _ in unknown.headers}


def test_json_clients_get_the_json_error_shape(client):
    for _ in range(5):
        _login(client, "ghost", WRONG)
    r = _login(client, "ghost", WRONG, headers={"Accept": "application/json"})
    assert r.status_code == 429 and r.headers["Retry-After"]
    assert r.get_json()["error"]["message"].startswith("Too many failed log-in attempts")


def test_successful_logins_are_not_counted(client, auth):
    auth.create_user("ada")
    for _ in range(8):
        assert _login(client, "ada", PASSWORD).status_code == 302
        auth.logout()
    for _ in range(4):
        assert _login(client, "ada", WRONG).status_code == 400
    assert _login(client, "ada", PASSWORD).status_code == 302
    auth.logout()
    for _ in range(4):  # the success forgot the earlier failures
        assert _login(client, "ada", WRONG).status_code == 400


def test_lock_lifts_after_the_window(client, auth):
    auth.create_user("ada")
    with _at_window_start() as clock:
        for _ in range(5):
            _login(client, "ada", WRONG)
        r = _login(client, "ada", PASSWORD)
        assert r.status_code == 429 and int(r.headers["Retry-After"]) == 899
        clock.tick(timedelta(minutes=15))
        assert _login(client, "ada", PASSWORD).status_code == 302


def test_account_ceiling_slows_many_addresses_with_growing_delays(tmp_path, template_db):
    app = _app_with_ada(tmp_path, template_db, LOGIN_FAILURES_PER_ACCOUNT=4, LOGIN_MAX_DELAY=8)
    with _at_window_start() as clock:
        for i in range(4):  # under the ceiling: each new address gets its answer at once
            assert _login(_from(app, f"203.0.113.{i}"), "ada", WRONG).status_code == 400
        waits = []
        for i in range(10, 15):
            client = _from(app, f"203.0.113.{i}")
            assert _login(client, "ada", WRONG).status_code == 400  # the delay has passed: checked
            r = _login(_from(app, f"203.0.113.{i + 50}"), "ada", PASSWORD)
            assert r.status_code == 429  # even the right password waits its turn
            waits.append(int(r.headers["Retry-After"]))
            clock.tick(timedelta(seconds=waits[-1]))
        assert waits == [1, 2, 4, 8, 8]  # doubling, up to LOGIN_MAX_DELAY


def test_a_browser_that_logged_in_before_skips_the_ceiling(tmp_path, template_db):
    app = _app_with_ada(tmp_path, template_db, LOGIN_FAILURES_PER_ACCOUNT=3, LOGIN_MAX_DELAY=300)
    with _at_window_start():
        home = _from(app, "198.51.100.7")
        assert _login(home, "ada", PASSWORD).status_code == 302  # the owner, last week
        for i in range(6):  # an attacker with many addresses drives the account over its ceiling
            _login(_from(app, f"203.0.113.{i}"), "ada", WRONG)
        assert _login(_from(app, "203.0.113.99"), "ada", PASSWORD).status_code == 429
        # the owner's browser (same cookie, even from a new network) still gets in
        assert _login(_from(app, "192.0.2.44", cookie_of=home), "ada", PASSWORD).status_code == 302
        # a device cookie of another account does not help
        bob = _from(app, "192.0.2.45", cookie_of=home)
        assert _login(bob, "nobody", WRONG).status_code == 400


def test_parallel_wrong_logins_run_at_most_the_limit_of_password_checks(app, auth, monkeypatch):
    auth.create_user("ada")
    checks = counting_password_checks(monkeypatch)
    statuses, lock, barrier = [], threading.Lock(), threading.Barrier(12)

    def attempt():
        client = app.test_client()
        token = csrf_token(client)
        barrier.wait()
        r = client.post("/login", data={"csrf_token": token, "username": "ada", "password": WRONG})
        with lock:
            statuses.append(r.status_code)

    threads = [threading.Thread(target=attempt) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(statuses) == [400] * 5 + [429] * 7
    assert len(checks) == 5


def test_forwarded_for_is_ignored_unless_a_proxy_is_trusted(tmp_path, template_db):
    untrusting = make_app(tmp_path, template_db, name="direct", LOGIN_FAILURES_PER_ACCOUNT_ADDRESS=2)
    client = untrusting.test_client()
    for i in range(2):
        _login(client, "ada", WRONG, headers={"X-Forwarded-For": f"198.51.100.{i}"})
    # Forging X-Forwarded-For does not escape the limit when no proxy is configured.
    assert _login(client, "ada", WRONG, headers={"X-Forwarded-For": "198.51.100.77"}).status_code == 429

    behind_nginx = make_app(tmp_path, template_db, name="proxied", LOGIN_FAILURES_PER_ACCOUNT_ADDRESS=2,
                            TRUSTED_PROXY_COUNT=1)
    client = behind_nginx.test_client()
    for _ in range(2):
        _login(client, "ada", WRONG, headers={"X-Forwarded-For": "198.51.100.1"})
    assert _login(client, "ada", WRONG, headers={"X-Forwarded-For": "198.51.100.1"}).status_code == 429
    # Behind the proxy, visitors are told apart by the address the proxy saw.
    assert _login(client, "ada", WRONG, headers={"X-Forwarded-For": "198.51.100.2"}).status_code == 400


def test_registration_is_limited_per_address(app, auth):
    for i in range(5):
        client = _from(app, "203.0.113.5")
        r = client.post("/register", data={
            "csrf_token": csrf_token(client, "/register"), "username": f"farm{i}", "display_name": "F",
            "email": f"farm{i}@example.org", "password": "violet-kettle-42", "confirm": "violet-kettle-42"})
        assert r.status_code == 302
    client = _from(app, "203.0.113.5")
    r = client.post("/register", data={
        "csrf_token": csrf_token(client, "/register"), "username": "farm9", "display_name": "F",
        "email": "farm9@example.org", "password": "violet-kettle-42", "confirm": "violet-kettle-42"})
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 5
    other = _from(app, "198.51.100.5")
    r = other.post("/register", data={
        "csrf_token": csrf_token(other, "/register"), "username": "real", "display_name": "R",
        "email": "real@example.org", "password": "violet-kettle-42", "confirm": "violet-kettle-42"})
    assert r.status_code == 302


def test_registration_does_not_say_which_of_name_or_email_is_taken(auth, client):
    auth.register("carol")
    auth.logout()
    by_name = auth.register("carol", email="fresh@example.org").get_data(as_text=True)
    by_email = auth.register("someone", email="carol@example.org").get_data(as_text=True)
    message = "That username or email cannot be used"
    assert message in by_name and message in by_email
    assert "someone" in by_email and "carol" in by_name  # the form is echoed back, nothing else differs


@pytest.mark.parametrize("target", ["/%0d%0aSet-Cookie:x=1", "/\x00", "/\r\n/evil.example", "/\t/evil.example",
                                    "/\\evil.example"])
def test_next_with_control_characters_is_refused_safely(client, auth, target):
    auth.create_user("erin")
    r = client.post("/login", query_string={"next": target}, data={
        "csrf_token": csrf_token(client), "username": "erin", "password": PASSWORD})
    if "\x00" in target:  # a NUL byte anywhere in a request is answered 404 before any view
        assert r.status_code == 404
        return
    assert r.status_code == 302
    location = r.headers["Location"]
    assert "evil" not in location and "\r" not in location and "\n" not in location



def test_one_address_cannot_spray_passwords_over_many_accounts(tmp_path, template_db):
    app = _app_with_ada(tmp_path, template_db, LOGIN_FAILURES_PER_ADDRESS=10)
    spray = _from(app, "203.0.113.50")
    statuses = [_login(spray, f"user{i}", "Password123!").status_code for i in range(12)]
    assert statuses == [400] * 10 + [429] * 2
    # the limit is per address: the owner elsewhere is untouched
    assert _login(_from(app, "198.51.100.7"), "ada", PASSWORD).status_code == 302


def test_a_device_cookie_dies_with_the_password_it_proved(tmp_path, template_db):
    app = _app_with_ada(tmp_path, template_db, LOGIN_FAILURES_PER_ACCOUNT=2)
    with _at_window_start():
        old_browser = _from(app, "198.51.100.7")
        assert _login(old_browser, "ada", PASSWORD).status_code == 302
        result = app.test_cli_runner().invoke(args=["users", "set-password", "ada", "--password", "a brand new pass phrase 991"])
        assert result.exit_code == 0, result.output
        for i in range(3):  # over the account's ceiling
            _login(_from(app, f"203.0.113.{i}"), "ada", WRONG)
        # the cookie from before the change is an unknown browser now: it waits like one
        replay = _from(app, "192.0.2.1", cookie_of=old_browser)
        assert _login(replay, "ada", "a brand new pass phrase 991").status_code == 429


def test_the_operator_lifts_the_throttle_of_an_account(tmp_path, template_db):
    app = _app_with_ada(tmp_path, template_db, LOGIN_FAILURES_PER_ACCOUNT=2)
    with _at_window_start():
        for i in range(4):
            _login(_from(app, f"203.0.113.{i}"), "ada", WRONG)
        assert _login(_from(app, "198.51.100.7"), "ada", PASSWORD).status_code == 429
        result = app.test_cli_runner().invoke(args=["users", "unlock", "ADA"])
        assert result.exit_code == 0 and "log-in throttle lifted for ada" in result.output
        assert _login(_from(app, "198.51.100.7"), "ada", PASSWORD).status_code == 302
    result = app.test_cli_runner().invoke(args=["users", "unlock", "nobody"])
    assert result.exit_code != 0 and len(result.output.strip().splitlines()) == 1


def test_a_long_password_is_checked_not_crashed(client, auth):
    long = "correct horse battery staple " * 3
    assert auth.register("dee", password=long).status_code == 302
    auth.logout()
    assert _login(client, "dee", long).status_code == 302
