"""Accounts through the real forms."""
import pytest
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


@pytest.mark.parametrize("field", ["username", "email", "display_name", "password"])
def test_a_nul_character_in_a_form_field_is_a_400(app, client, field):
    data = {"csrf_token": csrf_token(client, "/register"), "username": "dee", "display_name": "Dee",
            "email": "dee@example.org", "password": "violet-kettle-42", "confirm": "violet-kettle-42"}
    data[field] = data[field][:2] + "\x00" + data[field][2:]
    r = client.post("/register", data=data)
    assert r.status_code == 400 and "NUL" in r.get_data(as_text=True)
    r = client.post("/login", data={"csrf_token": csrf_token(client), "username": "ad\x00a", "password": "x"})
    assert r.status_code == 400


def test_a_nul_in_a_json_string_is_a_400(client):
    r = client.post("/api/v1/puzzles/x/questions/y/submissions", data='{"value": "1\\u0000"}',
                    headers={"Content-Type": "application/json", "Authorization": "Bearer nope"})
    assert r.status_code == 400 and "NUL" in r.get_json()["error"]["message"]


@pytest.mark.parametrize("path", ["/profile/sessions/99999999999999999999/revoke", "/profile/tokens/3000000000/revoke",
                                  "/admin/users/3000000000/role"])
def test_ids_past_the_integer_range_are_404(client, auth, path):
    auth.create_user("root", role="admin")
    auth.login("root")
    r = client.post(path, data={"csrf_token": csrf_token(client, "/"), "role": "mentor"})
    assert r.status_code == 404


def test_huge_page_numbers_are_clamped(client, auth):
    auth.create_user("root", role="admin")
    auth.login("root")
    for url in ("/admin?page=99999999999999999999999", "/leaderboard?page=99999999999999999999999"):
        assert client.get(url).status_code == 200
