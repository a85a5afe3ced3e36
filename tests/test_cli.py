"""manage.py users ... through the CLI runner."""
import sqlalchemy as sa

from puzzle_platform.extensions import db
from puzzle_platform.models import ApiToken, User


def test_users_create_and_token(app, runner):
    r = runner.invoke(args=["users", "create", "mia", "--email", "mia@example.org", "--role", "mentor",
                            "--password", "a long password"])
    assert r.exit_code == 0 and "created mentor mia" in r.output
    r = runner.invoke(args=["users", "token", "mia"])
    token = r.output.strip()
    assert r.exit_code == 0 and token.startswith("mip_")
    with app.app_context():
        row = db.session.scalar(sa.select(ApiToken))
        assert row.token_hash == ApiToken.hash(token) and token not in row.token_hash
        assert db.session.scalar(sa.select(User)).role == "mentor"


def test_users_bad_input_one_line_nonzero(runner):
    r = runner.invoke(args=["users", "create", "x1", "--email", "x@e.org", "--role", "king", "--password", "p" * 12])
    assert r.exit_code != 0 and "king" in r.output
    r = runner.invoke(args=["users", "create", "x1", "--email", "x@e.org", "--password", "short"])
    assert r.exit_code != 0 and "At least 10" in r.output
    assert runner.invoke(args=["users", "token", "ghost"]).exit_code != 0


def test_ensure_admin_once(runner):
    first = runner.invoke(args=["users", "ensure-admin"])
    assert "password" in first.output
    second = runner.invoke(args=["users", "ensure-admin"])
    assert "exists already" in second.output
