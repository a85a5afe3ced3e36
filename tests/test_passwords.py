"""Password rules: zxcvbn's estimate (common passwords, keyboard walks, sequences, the
user's own name) wherever a password is chosen, with a message a person can act on."""
import pytest
import sqlalchemy as sa

from puzzle_platform.extensions import db
from puzzle_platform.models import User


def _users(app) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(User))


@pytest.mark.parametrize("password", ["12345678901", "qwertyuiop!", "1234567890" * 20, "1234567890", "Password123",
                                      "QWERTYUIOP", "aaaaaaaaaaaa", "iloveyou123", "password1234",
                                      "grace-grace-grace", "Grace1234567"])
def test_guessable_passwords_are_refused_at_registration(app, auth, password):
    r = auth.register("grace", password=password)
    body = r.get_data(as_text=True)
    assert r.status_code == 400
    assert "too easy to guess" in body or "must not contain your username" in body
    assert _users(app) == 0


@pytest.mark.parametrize("password", ["short1!", "x" * 257, "tab\there is long enough"])
def test_length_and_control_characters(app, auth, password):
    r = auth.register("grace", password=password)
    assert r.status_code == 400 and _users(app) == 0


@pytest.mark.parametrize("password", ["violet-kettle-42", "correct horse battery", "kj3h4k5jh3k4",
                                      "correct horse battery staple " * 3, "x7#Qm" * 51])
def test_strong_passwords_pass(app, auth, password):
    assert auth.register("grace", password=password).status_code == 302
    assert _users(app) == 1


def test_the_refusal_says_why(auth):
    body = auth.register("grace", password="qwertyuiop!").get_data(as_text=True)
    assert "too easy to guess" in body and "common" in body.lower()


def test_the_cli_applies_the_same_rule(app):
    runner = app.test_cli_runner()
    r = runner.invoke(args=["users", "create", "eve", "--email", "eve@example.org", "--password", "12345678901"])
    assert r.exit_code != 0 and "too easy to guess" in r.output
    assert _users(app) == 0
    r = runner.invoke(args=["users", "create", "eve", "--email", "eve@example.org", "--password", "violet-kettle-42"])
    assert r.exit_code == 0, r.output
    assert _users(app) == 1
