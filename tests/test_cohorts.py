"""Cohorts through the web: mentors create and manage, scholars join by link or code."""
import sqlalchemy as sa

from puzzle_platform.extensions import db
from puzzle_platform.models import Cohort, CohortMember
from tests.helpers import csrf_token


def _post(client, path, **fields):
    return client.post(path, data={"csrf_token": csrf_token(client, "/login"), **fields})


def _create(client, name="MATS Winter 27", slug="mats-w27", private="1"):
    fields = {"name": name, "slug": slug}
    if private:
        fields["private"] = private
    return _post(client, "/cohorts", **fields)


def _cohort(app, slug="mats-w27") -> tuple[int, str]:
    with app.app_context():
        cohort = db.session.scalar(sa.select(Cohort).where(Cohort.slug == slug))
        return cohort.id, cohort.invite_code


def _members(app, slug="mats-w27") -> list[str]:
    with app.app_context():
        cohort = db.session.scalar(sa.select(Cohort).where(Cohort.slug == slug))
        return sorted(m.user.username for m in cohort.members)


def _with_cohort(app, client, auth, private="1"):
    auth.create_user("mentor1", role="mentor")
    auth.create_user("ann")
    auth.login("mentor1")
    assert _create(client, private=private).status_code == 303
    auth.logout()
    return _cohort(app)


def test_mentor_creates_a_cohort_and_sees_it(app, client, auth):
    auth.create_user("mentor1", role="mentor")
    auth.login("mentor1")
    page = client.get("/cohorts").get_data(as_text=True)
    assert "New cohort" in page and "No cohorts yet" in page
    r = _create(client)
    assert r.status_code == 303 and r.headers["Location"].endswith("/cohorts/mats-w27")
    cohort_id, code = _cohort(app)
    with app.app_context():
        cohort = db.session.get(Cohort, cohort_id)
        assert cohort.name == "MATS Winter 27" and cohort.leaderboard_private is True
    detail = client.get("/cohorts/mats-w27").get_data(as_text=True)
    assert f"/cohorts/join/{code}" in detail and "No members yet" in detail
    listing = client.get("/cohorts").get_data(as_text=True)
    assert "MATS Winter 27" in listing and "/leaderboard?cohort=mats-w27" in listing
    # Unchecked box: a public cohort leaderboard.
    assert _create(client, name="Open", slug="open", private=None).status_code == 303
    with app.app_context():
        assert db.session.scalar(sa.select(Cohort.leaderboard_private).where(Cohort.slug == "open")) is False


def test_bad_cohort_input_is_refused_and_nothing_created(app, client, auth):
    auth.create_user("mentor1", role="mentor")
    auth.login("mentor1")
    assert _create(client).status_code == 303
    for fields, status, reason in [
        ({"name": "", "slug": "x"}, 400, "Give the cohort a name"),
        ({"name": "X", "slug": "Has Spaces"}, 400, "lowercase letters"),
        ({"name": "X", "slug": "-dash"}, 400, "lowercase letters"),
        ({"name": "X" * 129, "slug": "long"}, 400, "128 characters"),
        ({"name": "X", "slug": "join"}, 400, "reserved"),
        ({"name": "Again", "slug": "mats-w27"}, 409, "already exists"),
    ]:
        r = _post(client, "/cohorts", **fields)
        assert r.status_code == status, fields
        assert reason in r.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Cohort)) == 1


def test_role_checks(app, client, auth):
    _with_cohort(app, client, auth)
    anonymous = [
        ("get", "/cohorts"), ("get", "/cohorts/mats-w27"), ("post", "/cohorts"),
        ("post", "/cohorts/join"), ("post", "/cohorts/mats-w27/code"),
        ("post", "/cohorts/mats-w27/visibility"), ("post", "/cohorts/mats-w27/members/1/remove"),
    ]
    for method, path in anonymous:
        r = client.get(path) if method == "get" else _post(client, path, name="x", slug="x", code="x")
        assert r.status_code == 401, path
    auth.login("ann")
    for method, path in [("get", "/cohorts/mats-w27"), ("post", "/cohorts"), ("post", "/cohorts/mats-w27/code"),
                         ("post", "/cohorts/mats-w27/visibility"), ("post", "/cohorts/mats-w27/members/1/remove")]:
        r = client.get(path) if method == "get" else _post(client, path, name="x", slug="new-one")
        assert r.status_code == 403, path
    page = client.get("/cohorts").get_data(as_text=True)
    assert "Join a cohort" in page and "New cohort" not in page
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Cohort)) == 1


def test_invite_link_anonymous_logs_in_then_confirms_and_joins(app, client, auth):
    _, code = _with_cohort(app, client, auth)
    link = f"/cohorts/join/{code}"
    r = client.get(link)
    assert r.status_code == 302 and "/login?next=" in r.headers["Location"]
    assert "%2Fcohorts%2Fjoin%2F" in r.headers["Location"] or link in r.headers["Location"]
    r = client.post(f"/login?next={link}", data={
        "csrf_token": csrf_token(client), "username": "ann", "password": "correct horse battery"})
    assert r.status_code == 302 and r.headers["Location"] == link
    page = client.get(link).get_data(as_text=True)
    assert "You were invited to the cohort" in page and "MATS Winter 27" in page
    assert _members(app) == []  # opening the link alone joins nobody
    r = _post(client, link)
    assert r.status_code == 303
    assert _members(app) == ["ann"]
    mine = client.get("/cohorts").get_data(as_text=True)
    assert "MATS Winter 27" in mine and "/leaderboard?cohort=mats-w27" in mine
    assert client.get("/leaderboard.json?cohort=mats-w27").status_code == 200
    # Twice: a clear message, no second row.
    assert "already a member" in client.get(link).get_data(as_text=True)
    r = _post(client, link)
    assert r.status_code == 409 and "already a member" in r.get_data(as_text=True)
    assert _members(app) == ["ann"]


def test_join_by_typed_code_or_pasted_link(app, client, auth):
    _, code = _with_cohort(app, client, auth)
    auth.create_user("ben")
    auth.login("ann")
    r = _post(client, "/cohorts/join", code=f"  {code}  ")
    assert r.status_code == 303
    auth.logout()
    auth.login("ben")
    assert _post(client, "/cohorts/join", code=f"http://localhost/cohorts/join/{code}").status_code == 303
    assert _members(app) == ["ann", "ben"]
    r = _post(client, "/cohorts/join", code=code)
    assert r.status_code == 409 and "already a member" in r.get_data(as_text=True)
    assert _members(app) == ["ann", "ben"]


def test_bad_codes_are_404_with_a_message(app, client, auth):
    _with_cohort(app, client, auth)
    auth.login("ann")
    r = _post(client, "/cohorts/join", code="not-a-code")
    assert r.status_code == 404 and "No cohort has this invite code" in r.get_data(as_text=True)
    assert client.get("/cohorts/join/not-a-code").status_code == 404
    assert _post(client, "/cohorts/join/not-a-code").status_code == 404
    r = _post(client, "/cohorts/join", code="   ")
    assert r.status_code == 400 and "Type the invite code" in r.get_data(as_text=True)
    assert _members(app) == []


def test_regenerating_the_code_invalidates_the_old_link(app, client, auth):
    _, old = _with_cohort(app, client, auth)
    auth.login("mentor1")
    assert _post(client, "/cohorts/mats-w27/code").status_code == 303
    _, new = _cohort(app)
    assert new != old
    page = client.get("/cohorts/mats-w27").get_data(as_text=True)
    assert new in page and old not in page
    auth.logout()
    auth.login("ann")
    assert client.get(f"/cohorts/join/{old}").status_code == 404
    assert _post(client, f"/cohorts/join/{old}").status_code == 404
    assert _post(client, "/cohorts/join", code=old).status_code == 404
    assert _members(app) == []
    assert _post(client, f"/cohorts/join/{new}").status_code == 303
    assert _members(app) == ["ann"]


def test_mentor_removes_a_member(app, client, auth):
    cohort_id, code = _with_cohort(app, client, auth)
    auth.login("ann")
    _post(client, f"/cohorts/join/{code}")
    auth.logout()
    auth.login("mentor1")
    detail = client.get("/cohorts/mats-w27").get_data(as_text=True)
    assert "Ann" in detail and "Members (1)" in detail
    with app.app_context():
        ann_id = db.session.scalar(sa.select(CohortMember.user_id).where(CohortMember.cohort_id == cohort_id))
    assert _post(client, f"/cohorts/mats-w27/members/{ann_id}/remove").status_code == 303
    assert _members(app) == []
    r = _post(client, f"/cohorts/mats-w27/members/{ann_id}/remove")
    assert r.status_code == 404 and "not a member" in r.get_data(as_text=True)
    assert _post(client, "/cohorts/nope/members/1/remove").status_code == 404
    auth.logout()
    auth.login("ann")
    assert "You are not in a cohort yet" in client.get("/cohorts").get_data(as_text=True)
    assert client.get("/leaderboard.json?cohort=mats-w27").status_code == 403


def test_mentors_do_not_join_and_visibility_toggle(app, client, auth):
    _, code = _with_cohort(app, client, auth)
    auth.login("mentor1")
    assert "only scholars join" in client.get(f"/cohorts/join/{code}").get_data(as_text=True)
    assert _post(client, f"/cohorts/join/{code}").status_code == 403
    assert _members(app) == []
    assert _post(client, "/cohorts/mats-w27/visibility", private="0").status_code == 303
    auth.logout()
    assert client.get("/leaderboard.json?cohort=mats-w27").status_code == 200


def test_unique_constraint_is_the_last_guard(app, client, auth, monkeypatch):
    """Two requests that both pass the membership check: the second gets 409, not a 500."""
    from puzzle_platform.community import cohorts

    _, code = _with_cohort(app, client, auth)
    auth.login("ann")
    assert _post(client, f"/cohorts/join/{code}").status_code == 303
    monkeypatch.setattr(cohorts, "is_member", lambda cohort_id, user_id: False)
    r = _post(client, f"/cohorts/join/{code}")
    assert r.status_code == 409 and "already a member" in r.get_data(as_text=True)
    assert _members(app) == ["ann"]


def test_csrf_is_required(app, client, auth):
    _, code = _with_cohort(app, client, auth)
    auth.login("ann")
    r = client.post(f"/cohorts/join/{code}")
    assert r.status_code == 400 and "security token" in r.get_data(as_text=True)
    assert _members(app) == []
