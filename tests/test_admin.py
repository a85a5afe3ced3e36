"""The admin tier: the admin page (roles, site settings, model sources), the actions moved
from mentors to admins (export to disk, site-wide leaderboard visibility) and
`manage.py users set-role`, through the HTTP client and the CLI runner."""
from __future__ import annotations

import html

import pytest
import sqlalchemy as sa

from puzzle_platform.extensions import db
from puzzle_platform.models import Setting, User
from tests.helpers import csrf_token, write_puzzle

MODELS_KEY = "model_allowlist_extra"  # the key recipes.sources reads


def post(client, url: str, data: dict | None = None, **kwargs):
    return client.post(url, data={"csrf_token": csrf_token(client, "/login"), **(data or {})}, **kwargs)


def text(resp) -> str:
    return html.unescape(resp.get_data(as_text=True))


def roles(app) -> dict[str, str]:
    with app.app_context():
        return dict(db.session.execute(sa.select(User.username, User.role)).all())


def setting(app, key: str, default=None):
    with app.app_context():
        return Setting.get(key, default)


@pytest.fixture
def people(auth) -> dict[str, int]:
    """ann (scholar), mo (mentor), ada and bo (admins); nobody logged in."""
    return {name: auth.create_user(name, role=role)
            for name, role in (("ann", "scholar"), ("mo", "mentor"), ("ada", "admin"), ("bo", "admin"))}


def test_the_admin_page_shows_users_settings_and_models(app, client, auth, people):
    with app.app_context():
        Setting.put(MODELS_KEY, ["EleutherAI/pythia-70m", "gpt2-small"])
        db.session.commit()
    auth.login("ada")
    page = text(client.get("/admin"))
    for name in ("ann", "mo", "ada", "bo"):
        assert f"<td>{name}</td>" in page and f"{name}@example.org" in page
    assert 'action="/admin/users/%d/role"' % people["ann"] in page
    assert "The site leaderboard is <strong>public</strong>" in page
    assert "<code>EleutherAI/pythia-70m</code>" in page and ">EleutherAI/pythia-70m\ngpt2-small</textarea>" in page
    assert '<a href="/admin">Admin</a>' in text(client.get("/"))


def test_the_user_list_is_paged_and_searchable(app, client, auth, people):
    with app.app_context():
        for i in range(60):
            db.session.add(User(username=f"cohort{i:02d}", email=f"c{i}@example.org", role="scholar",
                                display_name=f"C{i}", password_hash="x"))
        db.session.commit()
    auth.login("ada")
    first = text(client.get("/admin"))
    assert "Users (64)" in first and "Page 1 of 2" in first and first.count('name="role"') == 50
    second = text(client.get("/admin?page=2"))
    assert second.count('name="role"') == 14
    found = text(client.get("/admin?q=COHORT1"))
    assert "Users (10 matching" in found and "<td>cohort15</td>" in found and "<td>cohort25</td>" not in found
    assert "Users (0 matching" in text(client.get("/admin?q=%25"))  # LIKE wildcards are literal


@pytest.mark.parametrize("role, status", [(None, 401), ("ann", 403), ("mo", 403)])
def test_only_admins_may_use_the_admin_page(app, client, auth, people, role, status):
    """Scholars and mentors get 403 (anonymous 401) on every admin action, and nothing changes:
    not even a mentor making themselves an admin."""
    if role:
        auth.login(role)
    before = roles(app)
    me = people.get(role or "", people["ann"])
    assert client.get("/admin").status_code == status
    assert post(client, f"/admin/users/{me}/role", {"role": "admin"}).status_code == status
    assert post(client, f"/admin/users/{people['ada']}/role", {"role": "scholar"}).status_code == status
    assert post(client, "/admin/settings", {"public": "0"}).status_code == status
    assert post(client, "/admin/models", {"models": "bigscience/bloom"}).status_code == status
    assert post(client, "/leaderboard/visibility", {"public": "0"}).status_code == status
    assert roles(app) == before
    assert setting(app, "leaderboard_public") is None and setting(app, MODELS_KEY) is None
    if role == "mo":
        assert "Admins only." in text(client.get("/admin"))
        assert 'href="/admin"' not in text(client.get("/"))


def test_an_admin_changes_roles(app, client, auth, people):
    auth.login("ada")
    resp = post(client, f"/admin/users/{people['ann']}/role", {"role": "mentor"}, follow_redirects=True)
    assert resp.history[0].status_code == 303 and "ann is now a mentor (was a scholar)." in text(resp)
    resp = post(client, f"/admin/users/{people['bo']}/role", {"role": "scholar"})
    assert resp.status_code == 303
    assert roles(app) == {"ann": "mentor", "mo": "mentor", "ada": "admin", "bo": "scholar"}
    auth.logout()
    auth.login("ann")
    assert client.get("/mentor").status_code == 200  # the new role holds at once
    auth.logout()
    auth.login("bo")
    assert client.get("/admin").status_code == 403  # and the lost one too


def test_bad_role_changes_are_refused_with_the_reason(app, client, auth, people):
    auth.login("ada")
    before = roles(app)
    resp = post(client, f"/admin/users/{people['ann']}/role", {"role": "king"})
    assert resp.status_code == 400 and "Unknown role 'king'" in text(resp)
    assert post(client, f"/admin/users/{people['ann']}/role").status_code == 400
    assert post(client, "/admin/users/9999/role", {"role": "mentor"}).status_code == 404
    resp = post(client, f"/admin/users/{people['ada']}/role", {"role": "mentor"})
    assert resp.status_code == 400 and "cannot take the admin role from yourself" in text(resp)
    assert roles(app) == before


def test_the_last_admin_keeps_the_role(app, client, auth, people):
    """bo demotes ada; bo, now the last admin, cannot demote himself (web) and the CLI cannot
    demote him either."""
    auth.login("bo")
    assert post(client, f"/admin/users/{people['ada']}/role", {"role": "mentor"}).status_code == 303
    resp = post(client, f"/admin/users/{people['bo']}/role", {"role": "scholar"})
    assert resp.status_code == 400
    result = app.test_cli_runner().invoke(args=["users", "set-role", "bo", "scholar"])
    assert result.exit_code != 0 and "bo is the last admin" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert roles(app)["bo"] == "admin"


def test_site_settings(app, client, auth, people):
    auth.login("ada")
    resp = post(client, "/admin/settings", {"public": "0"}, follow_redirects=True)
    assert resp.history[0].status_code == 303 and "The site leaderboard is now private" in text(resp)
    auth.logout()
    assert client.get("/leaderboard").status_code == 401
    auth.login("ada")
    for bad in ({}, {"public": "yes"}):
        resp = post(client, "/admin/settings", bad)
        assert resp.status_code == 400 and "Settings not changed" in text(resp)
    assert setting(app, "leaderboard_public") is False
    assert post(client, "/admin/settings", {"public": "1"}).status_code == 303
    auth.logout()
    assert client.get("/leaderboard").status_code == 200


def test_leaderboard_visibility_button_is_for_admins_only(app, client, auth, people):
    auth.login("mo")
    assert "/leaderboard/visibility" not in text(client.get("/leaderboard"))
    assert post(client, "/leaderboard/visibility", {"public": "0"}).status_code == 403
    auth.logout()
    auth.login("ada")
    assert 'action="/leaderboard/visibility"' in text(client.get("/leaderboard"))
    assert post(client, "/leaderboard/visibility", {"public": "maybe"}).status_code == 400
    assert setting(app, "leaderboard_public") is None
    assert post(client, "/leaderboard/visibility", {"public": "0"}).status_code == 303
    assert setting(app, "leaderboard_public") is False


def test_export_to_disk_is_for_admins_only(app, client, auth, people, puzzles_dir, sync):
    write_puzzle(puzzles_dir)
    sync()
    folder = puzzles_dir / "01-test-puzzle"
    (folder / "statement.md").write_text("Changed on disk.\n")
    auth.login("mo")
    assert "Export to folder" not in text(client.get("/mentor/puzzles/test-puzzle"))
    assert post(client, "/mentor/puzzles/test-puzzle/export").status_code == 403
    assert (folder / "statement.md").read_text() == "Changed on disk.\n"
    auth.logout()
    auth.login("ada")
    assert "Export to folder" in text(client.get("/mentor/puzzles/test-puzzle"))
    assert post(client, "/mentor/puzzles/test-puzzle/export").status_code == 303
    assert (folder / "statement.md").read_text() != "Changed on disk.\n"


def test_extra_model_list(app, client, auth, people):
    auth.login("ada")
    resp = post(client, "/admin/models", {"models": "EleutherAI/pythia-70m\r\n\r\n  gpt2-small \r\n"
                                                     "EleutherAI/pythia-70m\r\nmeta-llama/Llama-3.2-1B\r\n"},
                follow_redirects=True)
    assert resp.history[0].status_code == 303 and "Extra allowed models: 3." in text(resp)
    assert setting(app, MODELS_KEY) == ["EleutherAI/pythia-70m", "gpt2-small", "meta-llama/Llama-3.2-1B"]
    assert "<code>meta-llama/Llama-3.2-1B</code>" in text(client.get("/admin"))
    assert post(client, "/admin/models", {"models": ""}).status_code == 303
    assert setting(app, MODELS_KEY) == []


@pytest.mark.parametrize("bad", ["/etc", "../../../etc", "~", "~/models", "a/b/c", ".hidden", "a/../b",
                                 "C:\\models", "gpt2 small", "owner/", "-x", "a" * 97, "x\u00e9"])
def test_model_names_that_are_not_names_are_refused(app, client, auth, people, bad):
    with app.app_context():
        Setting.put(MODELS_KEY, ["gpt2-small"])
        db.session.commit()
    auth.login("ada")
    resp = post(client, "/admin/models", {"models": f"EleutherAI/pythia-70m\n{bad}\n"})
    body = text(resp)
    assert resp.status_code == 400 and "Model list not changed: Line 2:" in body and "not a model name" in body
    assert setting(app, MODELS_KEY) == ["gpt2-small"]


def test_at_most_200_extra_models(app, client, auth, people):
    auth.login("ada")
    names = "\n".join(f"org/model-{i}" for i in range(201))
    resp = post(client, "/admin/models", {"models": names})
    assert resp.status_code == 400 and "at most 200" in text(resp)
    assert post(client, "/admin/models").status_code == 400  # no field at all
    assert setting(app, MODELS_KEY) is None
    assert post(client, "/admin/models", {"models": names.rsplit("\n", 1)[0]}).status_code == 303
    assert len(setting(app, MODELS_KEY)) == 200


def test_cli_set_role(app, runner, people):
    result = runner.invoke(args=["users", "set-role", "ann", "mentor"])
    assert result.exit_code == 0 and result.output.strip() == "ann: scholar -> mentor"
    result = runner.invoke(args=["users", "set-role", "ann", "mentor"])
    assert result.exit_code == 0 and "already a mentor" in result.output
    assert runner.invoke(args=["users", "set-role", "ada", "scholar"]).exit_code == 0  # bo remains
    assert roles(app) == {"ann": "mentor", "mo": "mentor", "ada": "scholar", "bo": "admin"}


@pytest.mark.parametrize("args, message", [
    (["ghost", "mentor"], "No user 'ghost'"),
    (["ann", "king"], "Unknown role 'king'"),
])
def test_cli_set_role_errors(app, runner, people, args, message):
    before = roles(app)
    result = runner.invoke(args=["users", "set-role", *args])
    assert result.exit_code != 0 and message in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert roles(app) == before
