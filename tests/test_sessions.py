"""Sessions that end: logout, a password change, "log out everywhere", a per-session log out
and expiry end a login on the server, so a saved copy of the cookie opens nothing."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask_login.utils import encode_cookie
from freezegun import freeze_time

from puzzle_platform.extensions import db
from puzzle_platform.models import User, UserSession
from puzzle_platform.timeutil import utcnow
from tests.helpers import csrf_token
from tests.services import pg_url  # noqa: F401  (fixture)

PASSWORD = "correct horse battery"
NEW_PASSWORD = "a long unusual passphrase"


def saved_cookie(client) -> str:
    """What an attacker copies out of a browser: the session cookie's value."""
    return client.get_cookie("session").value


def replay(app, cookie: str):
    """A new browser holding only the saved cookie."""
    other = app.test_client()
    other.set_cookie("session", cookie)
    return other


def browser(app, username: str = "ada"):
    """A logged-in test client (another browser of the same person)."""
    client = app.test_client()
    resp = client.post("/login", data={"csrf_token": csrf_token(client), "username": username,
                                       "password": PASSWORD})
    assert resp.status_code == 302
    return client


def post(client, url: str, **data):
    return client.post(url, data={"csrf_token": csrf_token(client, "/profile"), **data})


def change_password(client, current: str = PASSWORD, new: str = NEW_PASSWORD, confirm: str | None = None):
    return post(client, "/profile/password", current_password=current, new_password=new,
                confirm=new if confirm is None else confirm)


def session_ids(app, username: str = "ada", live_only: bool = True) -> list[int]:
    with app.app_context():
        query = sa.select(UserSession.id).join(User, User.id == UserSession.user_id).where(User.username == username)
        if live_only:
            query = query.where(UserSession.revoked_at.is_(None))
        return list(db.session.scalars(query.order_by(UserSession.id)))


def test_a_cookie_saved_before_logout_opens_nothing(app, client, auth):
    auth.create_user("ada")
    auth.login("ada")
    cookie = saved_cookie(client)
    assert replay(app, cookie).get("/profile").status_code == 200  # the copy works while logged in
    assert auth.logout().status_code == 302
    assert replay(app, cookie).get("/profile").status_code == 401
    assert client.get("/profile").status_code == 401


def test_the_cookie_holds_no_user_id_that_works_on_its_own(app, client, auth):
    """A session signed with the real key (as if the key leaked, or an old cookie was edited)
    with a user id but no live server-side session is nobody."""
    uid = auth.create_user("ada")
    serializer = app.session_interface.get_signing_serializer(app)
    for forged in ({"_user_id": str(uid), "_fresh": True},
                   {"_user_id": str(uid), "_fresh": True, "sid": "made-up-token"}):
        assert replay(app, serializer.dumps(forged)).get("/profile").status_code == 401


def test_flask_logins_remember_cookie_does_not_log_anyone_in(app, client, auth):
    uid = auth.create_user("ada")
    with app.test_request_context():
        remember = encode_cookie(str(uid))  # signed with the app's key, as Flask-Login makes it
    other = app.test_client()
    other.set_cookie("remember_token", remember)
    assert other.get("/profile").status_code == 401


def test_a_session_of_one_user_does_not_open_another_account(app, auth):
    auth.create_user("ada")
    bob = auth.create_user("bob")
    ada = browser(app, "ada")
    serializer = app.session_interface.get_signing_serializer(app)
    with ada.session_transaction() as sess:
        stolen = dict(sess)
    forged = serializer.dumps({**stolen, "_user_id": str(bob)})  # Ada's live token, Bob's id
    assert replay(app, forged).get("/profile").status_code == 401


def test_a_password_change_ends_every_other_session(app, auth):
    auth.create_user("ada")
    here, elsewhere = browser(app), browser(app)
    here_before, elsewhere_cookie = saved_cookie(here), saved_cookie(elsewhere)
    resp = change_password(here)
    assert resp.status_code == 303
    page = here.get("/profile")
    assert page.status_code == 200  # this browser stays logged in ...
    assert "logged out everywhere else (1 other session ended)" in page.get_data(as_text=True)
    assert elsewhere.get("/profile").status_code == 401  # ... the other one does not
    assert replay(app, elsewhere_cookie).get("/profile").status_code == 401
    # This browser got a new session: a copy of its old cookie is dead too.
    assert replay(app, here_before).get("/profile").status_code == 401
    assert replay(app, saved_cookie(here)).get("/profile").status_code == 200
    # The new password logs in, the old one does not.
    fresh = app.test_client()
    assert fresh.post("/login", data={"csrf_token": csrf_token(fresh), "username": "ada",
                                      "password": PASSWORD}).status_code == 400
    assert fresh.post("/login", data={"csrf_token": csrf_token(fresh), "username": "ada",
                                      "password": NEW_PASSWORD}).status_code == 302


def test_a_wrong_current_password_changes_nothing_and_is_throttled(app, auth):
    auth.create_user("ada")
    here, elsewhere = browser(app), browser(app)
    for _ in range(5):
        resp = change_password(here, current="not my password at all")
        assert resp.status_code == 400
        assert "That is not your current password; nothing was changed." in resp.get_data(as_text=True)
    resp = change_password(here, current=PASSWORD)  # even the right one waits now
    assert resp.status_code == 429
    assert 0 < int(resp.headers["Retry-After"]) <= 15 * 60
    assert "Too many wrong passwords" in resp.get_data(as_text=True)
    assert elsewhere.get("/profile").status_code == 200  # no session ended
    fresh = app.test_client()
    assert fresh.post("/login", data={"csrf_token": csrf_token(fresh), "username": "ada",
                                      "password": PASSWORD}).status_code == 302  # the password did not change
    # Another user's attempts are their own.
    auth.create_user("bob")
    assert change_password(browser(app, "bob")).status_code == 303


def test_the_new_password_follows_the_password_rule(app, auth):
    auth.create_user("ada")
    here = browser(app)
    for new, confirm, reason in (("short", None, "At least 10 characters."),
                                 ("ada-is-my-name-2024", None, "must not contain your username"),
                                 ("password123456", None, "too easy to guess"),
                                 (NEW_PASSWORD, NEW_PASSWORD + "x", "The passwords differ."),
                                 (PASSWORD, None, "the same as the current one")):
        resp = change_password(here, new=new, confirm=confirm)
        assert resp.status_code == 400, new
        assert reason in resp.get_data(as_text=True), new
    assert len(session_ids(app)) == 1  # nothing ended
    assert here.get("/profile").status_code == 200


def test_log_out_everywhere_ends_every_session(app, auth):
    auth.create_user("ada")
    here, elsewhere = browser(app), browser(app)
    cookies = [saved_cookie(here), saved_cookie(elsewhere)]
    resp = post(here, "/profile/sessions/revoke-all")
    assert resp.status_code == 303 and resp.location.endswith("/login")
    assert "logged out everywhere (2 sessions ended)" in here.get("/login").get_data(as_text=True)
    for client in (here, elsewhere):
        assert client.get("/profile").status_code == 401
    for cookie in cookies:
        assert replay(app, cookie).get("/profile").status_code == 401


def test_the_profile_lists_active_sessions_and_logs_one_out(app, auth):
    auth.create_user("ada")
    here = browser(app)
    elsewhere = app.test_client()
    elsewhere.post("/login", data={"csrf_token": csrf_token(elsewhere), "username": "ada", "password": PASSWORD},
                   headers={"User-Agent": "Firefox on the library computer"})
    html = here.get("/profile").get_data(as_text=True)
    assert "Firefox on the library computer" in html
    assert html.count("(this browser)") == 1
    mine, theirs = session_ids(app)
    assert len(re.findall(r'action="/profile/sessions/\d+/revoke"', html)) == 2
    assert post(here, f"/profile/sessions/{theirs}/revoke").status_code == 303
    assert elsewhere.get("/profile").status_code == 401
    html = here.get("/profile").get_data(as_text=True)
    assert "Firefox on the library computer" not in html
    # Logging out this browser from the list logs it out.
    resp = post(here, f"/profile/sessions/{mine}/revoke")
    assert resp.status_code == 303 and resp.location.endswith("/login")
    assert here.get("/profile").status_code == 401


def test_someone_elses_session_is_404_and_stays(app, auth):
    auth.create_user("ada")
    auth.create_user("bob")
    bob = browser(app, "bob")
    ada = browser(app, "ada")
    (bobs,) = session_ids(app, "bob")
    assert post(ada, f"/profile/sessions/{bobs}/revoke").status_code == 404
    assert post(ada, "/profile/sessions/999999/revoke").status_code == 404
    assert bob.get("/profile").status_code == 200


def test_a_login_ends_after_its_lifetime_and_when_idle(app, auth):
    """SESSION_LIFETIME_DAYS (30) caps a login however busy; SESSION_IDLE_DAYS (14) ends one
    that is not used. The cookie is replayed as saved, so the browser's own expiry plays no part."""
    auth.create_user("ada")
    start = utcnow()
    with freeze_time(start):
        cookie = saved_cookie(browser(app))
    for days, status in ((10, 200), (20, 200), (29, 200), (30.01, 401)):  # used every 10 days or less
        with freeze_time(start + timedelta(days=days)):
            assert replay(app, cookie).get("/profile").status_code == status, days
    with freeze_time(start):
        idle = saved_cookie(browser(app))
    with freeze_time(start + timedelta(days=14, minutes=1)):
        assert replay(app, idle).get("/profile").status_code == 401


def test_last_seen_is_kept_to_the_minute(app, auth):
    auth.create_user("ada")
    start = utcnow().replace(second=0, microsecond=0)
    with freeze_time(start):
        client = browser(app)
    for offset, expected in ((timedelta(seconds=30), start), (timedelta(minutes=2), start + timedelta(minutes=2))):
        with freeze_time(start + offset):
            assert client.get("/profile").status_code == 200
        with app.app_context():
            assert db.session.scalar(sa.select(UserSession.last_seen_at)) == expected


def test_dead_sessions_are_pruned_at_the_next_login(app, auth):
    auth.create_user("ada")
    for _ in range(3):
        client = browser(app)
        post(client, "/logout")
    browser(app)
    assert len(session_ids(app, live_only=False)) == 1


def test_cli_set_password_logs_the_user_out_everywhere(app, runner, auth):
    auth.create_user("ada")
    client = browser(app)
    result = runner.invoke(args=["users", "set-password", "ada", "--password", NEW_PASSWORD])
    assert result.exit_code == 0, result.output
    assert "password changed for ada; 1 session logged out" in result.output
    assert client.get("/profile").status_code == 401
    fresh = app.test_client()
    assert fresh.post("/login", data={"csrf_token": csrf_token(fresh), "username": "ada",
                                      "password": NEW_PASSWORD}).status_code == 302


def test_cli_set_password_refuses_weak_passwords_and_unknown_users(app, runner, auth):
    auth.create_user("ada")
    client = browser(app)
    result = runner.invoke(args=["users", "set-password", "ada", "--password", "password1"])
    assert result.exit_code != 0 and "password refused: At least 10 characters." in result.output
    result = runner.invoke(args=["users", "set-password", "nobody", "--password", NEW_PASSWORD])
    assert result.exit_code != 0 and "No user 'nobody'" in result.output
    assert client.get("/profile").status_code == 200


def test_a_dead_cookie_is_logged_as_nobody(app, client, auth, caplog):
    """The request log does not credit a replayed, ended login to its former owner."""
    auth.create_user("ada")
    auth.login("ada")
    cookie = saved_cookie(client)
    auth.logout()
    caplog.clear()
    with caplog.at_level("INFO", logger="puzzle_platform.request"):
        assert replay(app, cookie).get("/profile").status_code == 401
    lines = [r.getMessage() for r in caplog.records if r.name == "puzzle_platform.request"]
    assert lines and lines[-1].endswith("user=-"), lines


@pytest.mark.services
def test_the_same_on_postgres(pg_url, tmp_path, puzzles_dir):  # noqa: F811
    """Logout, expiry and "last seen" on PostgreSQL, whose times and transactions differ."""
    from flask_migrate import upgrade

    from puzzle_platform import create_app
    from tests.conftest import AuthActions

    app = create_app({"TESTING": True, "SECRET_KEY": "t", "INSTANCE_PATH": str(tmp_path / "instance"),
                      "SQLALCHEMY_DATABASE_URI": pg_url, "PUZZLES_DIR": str(puzzles_dir)})
    with app.app_context():
        upgrade()
    try:
        client = app.test_client()
        auth = AuthActions(client, app)
        auth.create_user("ada")
        start = utcnow()
        with freeze_time(start):
            auth.login("ada")
            cookie = saved_cookie(client)
        with freeze_time(start + timedelta(minutes=5)):
            assert replay(app, cookie).get("/profile").status_code == 200
        assert session_ids(app) and len(session_ids(app)) == 1
        with app.app_context():
            seen = db.session.scalar(sa.select(UserSession.last_seen_at))
        assert abs(seen - (start + timedelta(minutes=5))) < timedelta(seconds=1)
        with freeze_time(start + timedelta(days=30, minutes=1)):
            assert replay(app, cookie).get("/profile").status_code == 401
        auth.logout()
        assert replay(app, cookie).get("/profile").status_code == 401
    finally:
        with app.app_context():
            db.engine.dispose()


def test_a_stolen_session_cannot_block_its_owners_password_change(app, auth):
    auth.create_user("ada")
    thief, owner = browser(app), browser(app)
    for _ in range(6):
        change_password(thief, current="a wrong guess!!")
    assert change_password(thief, current="another guess!!").status_code == 429
    r = change_password(owner)  # the owner's own session has its own count
    assert r.status_code == 303
    assert thief.get("/profile").status_code == 401


def test_log_out_everywhere_can_revoke_api_tokens_too(app, auth):
    from tests.helpers import issue_token

    auth.create_user("ada")
    kept, gone = issue_token(app, "ada", name="kept"), None
    ada = browser(app)
    assert post(ada, "/profile/sessions/revoke-all").status_code == 303
    assert app.test_client().get("/api/v1/me", headers={"Authorization": f"Bearer {kept}"}).status_code == 200
    gone = issue_token(app, "ada", name="stolen")
    ada = browser(app)
    r = post(ada, "/profile/sessions/revoke-all", tokens="1")
    assert r.status_code == 303
    for token in (kept, gone):
        assert app.test_client().get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_cli_set_password_can_revoke_tokens_and_matches_names_in_any_case(app, runner, auth):
    from tests.helpers import issue_token

    auth.create_user("ada")
    token = issue_token(app, "ada")
    r = runner.invoke(args=["users", "set-password", "ADA", "--password", NEW_PASSWORD, "--revoke-tokens"])
    assert r.exit_code == 0 and "1 API token revoked" in r.output, r.output
    assert app.test_client().get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
