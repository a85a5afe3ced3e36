"""Accounts through the real forms."""
import sqlalchemy as sa

from puzzle_platform.extensions import db
from puzzle_platform.models import User
from tests.helpers import csrf_token


def test_register_login_logout(app, client, auth):
    assert auth.register("ada").status_code == 302
    with app.app_context():
        user = db.session.scalar(sa.select(User))
        assert user.role == "scholar" and user.password_hash != "correct horse battery"
        assert user.password_hash.startswith(("scrypt:", "pbkdf2:"))
    assert "Ada" in client.get("/").get_data(as_text=True)
    auth.logout()
    assert "Log in" in client.get("/").get_data(as_text=True)
    r = auth.login("ada")
    assert r.status_code == 302


def test_bad_registrations(client, auth):
    assert auth.register("ab").status_code == 400  # too short username
    r = auth.register("carol", password="short")
    assert r.status_code == 400 and "At least 10 characters" in r.get_data(as_text=True)
    r = auth.register("carol", password="carol-is-my-password")
    assert r.status_code == 400 and "must not contain your username" in r.get_data(as_text=True)
    assert auth.register("carol").status_code == 302
    auth.logout()
    r = auth.register("Carol", email="other@example.org")
    assert r.status_code == 400 and "cannot be used" in r.get_data(as_text=True)


def test_wrong_password_and_csrf(client, auth):
    auth.register("dave")
    auth.logout()
    r = auth.login("dave", password="wrong password!")
    assert r.status_code == 400 and "Wrong username or password" in r.get_data(as_text=True)
    r = client.post("/login", data={"username": "dave", "password": "correct horse battery"})
    assert r.status_code == 400


def test_login_redirect_is_same_site_only(client, auth):
    auth.register("erin")
    auth.logout()
    r = client.post("/login?next=//evil.example/x", data={
        "csrf_token": csrf_token(client), "username": "erin", "password": "correct horse battery"})
    assert r.status_code == 302 and "evil" not in r.headers["Location"]
