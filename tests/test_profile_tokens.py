"""The profile page: display name, and the API token lifecycle (create -> shown once -> use
-> revoke -> 401), through the real forms with CSRF."""
from __future__ import annotations

import re

import sqlalchemy as sa

from puzzle_platform.blueprints.profile import MAX_ACTIVE_TOKENS
from puzzle_platform.extensions import db
from puzzle_platform.models import ApiToken, User
from tests.helpers import csrf_token

TOKEN_RE = re.compile(r'<code id="new-token">(mip_[A-Za-z0-9_-]+)</code>')


def _create(client, name="colab"):
    return client.post("/profile/tokens", data={"csrf_token": csrf_token(client, "/profile"), "name": name})


def _tokens(app) -> list[ApiToken]:
    with app.app_context():
        return list(db.session.scalars(sa.select(ApiToken).order_by(ApiToken.id)))


def _me(client, token):
    return client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})


def test_profile_needs_a_login(client):
    assert client.get("/profile").status_code == 401
    r = client.post("/profile/tokens", data={"csrf_token": csrf_token(client), "name": "x"})
    assert r.status_code == 401


def test_token_lifecycle_shown_once_prefix_listed_revoked_is_401(app, client, auth):
    auth.register("ada")
    assert "no API tokens yet" in client.get("/profile").get_data(as_text=True)

    r = _create(client, "colab")
    assert r.status_code == 201 and r.headers["Cache-Control"] == "no-store"
    html = r.get_data(as_text=True)
    plain = TOKEN_RE.search(html).group(1)
    assert "will not be shown again" in html
    assert _me(client, plain).get_json()["username"] == "ada"

    page = client.get("/profile").get_data(as_text=True)
    assert plain not in page                      # never shown again
    assert plain[:12] in page and "colab" in page  # the prefix and name are listed
    assert "never" not in page.split("colab", 1)[1].split("</tr>", 1)[0]  # last used is recorded
    (row,) = _tokens(app)
    assert row.token_hash == ApiToken.hash(plain) and plain not in (row.prefix, row.token_hash)

    r = client.post(f"/profile/tokens/{row.id}/revoke", data={"csrf_token": csrf_token(client, "/profile")})
    assert r.status_code == 303
    assert _me(client, plain).status_code == 401
    page = client.get("/profile").get_data(as_text=True)
    assert "revoked" in page and f"/profile/tokens/{row.id}/revoke" not in page
    # revoking twice changes nothing
    revoked_at = _tokens(app)[0].revoked_at
    assert revoked_at is not None
    client.post(f"/profile/tokens/{row.id}/revoke", data={"csrf_token": csrf_token(client, "/profile")})
    assert _tokens(app)[0].revoked_at == revoked_at


def test_cannot_revoke_someone_elses_token(app, client, auth, runner):
    auth.create_user("bob")
    result = runner.invoke(args=["users", "token", "bob"])
    bob_token = result.output.strip()
    bob_row = _tokens(app)[0]
    auth.register("eve")
    for token_id in (bob_row.id, 999):
        r = client.post(f"/profile/tokens/{token_id}/revoke", data={"csrf_token": csrf_token(client, "/profile")})
        assert r.status_code == 404
    assert _tokens(app)[0].revoked_at is None
    assert _me(client, bob_token).status_code == 200
    assert bob_row.prefix not in client.get("/profile").get_data(as_text=True)  # not listed either


def test_cli_tokens_appear_on_the_profile(app, client, auth, runner):
    auth.register("ada")
    result = runner.invoke(args=["users", "token", "ada", "--name", "from-cli"])
    assert result.exit_code == 0
    page = client.get("/profile").get_data(as_text=True)
    assert "from-cli" in page and result.output.strip()[:12] in page
    assert result.output.strip() not in page


def test_bad_token_names_and_missing_csrf_create_nothing(app, client, auth):
    auth.register("ada")
    for name in ("", "   ", "x" * 65):
        r = _create(client, name)
        assert r.status_code == 400, name
        assert "mip_" not in r.get_data(as_text=True)
    r = client.post("/profile/tokens", data={"name": "colab"})
    assert r.status_code == 400 and "security token" in r.get_data(as_text=True)
    assert _tokens(app) == []


def test_active_token_cap(app, client, auth):
    auth.register("ada")
    with app.app_context():
        user = db.session.scalar(sa.select(User).where(User.username == "ada"))
        for i in range(MAX_ACTIVE_TOKENS):
            ApiToken.issue(user, f"t{i}")
        db.session.commit()
    r = _create(client, "one-too-many")
    assert r.status_code == 400 and "revoke one first" in r.get_data(as_text=True)
    assert len(_tokens(app)) == MAX_ACTIVE_TOKENS


def test_change_display_name(app, client, auth):
    auth.register("ada", display_name="Ada")
    plain = TOKEN_RE.search(_create(client).get_data(as_text=True)).group(1)
    r = client.post("/profile/display-name", data={"csrf_token": csrf_token(client, "/profile"),
                                                    "display_name": "  Ada Lovelace "})
    assert r.status_code == 303
    assert _me(client, plain).get_json()["display_name"] == "Ada Lovelace"
    for bad in ("", "   ", "y" * 65):
        r = client.post("/profile/display-name", data={"csrf_token": csrf_token(client, "/profile"),
                                                        "display_name": bad})
        assert r.status_code == 400
    r = client.post("/profile/display-name", data={"display_name": "No CSRF"})
    assert r.status_code == 400
    assert _me(client, plain).get_json()["display_name"] == "Ada Lovelace"


def test_profile_link_in_the_header(client, auth):
    auth.register("ada")
    assert 'href="/profile"' in client.get("/").get_data(as_text=True)


def test_expired_token_is_refused_with_the_reason(app, client, auth, runner):
    from datetime import timedelta

    import sqlalchemy as sa

    from puzzle_platform.extensions import db
    from puzzle_platform.models import ApiToken
    from puzzle_platform.timeutil import utcnow

    auth.create_user("exp")
    plain = runner.invoke(args=["users", "token", "exp", "--days", "30"]).output.strip()
    headers = {"Authorization": f"Bearer {plain}"}
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    with app.app_context():
        row = db.session.scalar(sa.select(ApiToken))
        assert utcnow() + timedelta(days=29) < row.expires_at < utcnow() + timedelta(days=31)
        row.expires_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
    r = client.get("/api/v1/me", headers=headers)
    assert r.status_code == 401 and "expired" in r.get_json()["error"]["message"]
    assert runner.invoke(args=["users", "token", "exp", "--days", "0"]).exit_code != 0


def test_profile_token_expiry_choice(app, client, auth):
    import sqlalchemy as sa

    from puzzle_platform.extensions import db
    from puzzle_platform.models import ApiToken
    from tests.helpers import csrf_token

    auth.register("pat")
    r = client.post("/profile/tokens", data={"csrf_token": csrf_token(client, "/profile"), "name": "nb",
                                             "expires": "0"})
    assert r.status_code == 201
    r = client.post("/profile/tokens", data={"csrf_token": csrf_token(client, "/profile"), "name": "nb2",
                                             "expires": "30"})
    assert r.status_code == 201
    r = client.post("/profile/tokens", data={"csrf_token": csrf_token(client, "/profile"), "name": "bad",
                                             "expires": "7"})
    assert r.status_code == 400
    with app.app_context():
        rows = {t.name: t.expires_at for t in db.session.scalars(sa.select(ApiToken))}
    assert rows["nb"] is None and rows["nb2"] is not None and "bad" not in rows
    assert "never expires" in client.get("/profile").get_data(as_text=True)
