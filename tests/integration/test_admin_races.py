"""Two admins demoting each other at once, on real PostgreSQL, with threads: the site keeps
an admin (taking the admin role locks every admin's row before counting them).

As in test_grading_races.py, a forced interleaving makes the window certain: ada's request
stops right after its UPDATE of bo's role, before committing, until bo's competing request
has finished or is seen to be blocked; then a barrier-started stress run repeats the race.
"""
from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from puzzle_platform.extensions import db
from puzzle_platform.models import User
from tests.helpers import csrf_token
from tests.integration.test_grading_races import _run, pause_after

pytestmark = pytest.mark.services


def _admin_client(app, auth, name: str):
    """A logged-in test client of its own (each thread needs its own cookies)."""
    auth.create_user(name, role="admin")
    client = app.test_client()
    resp = client.post("/login", data={"csrf_token": csrf_token(client), "username": name,
                                       "password": "correct horse battery"})
    assert resp.status_code == 302
    return client


def _demote(client, user_id: int, statuses: list) -> None:
    resp = client.post(f"/admin/users/{user_id}/role",
                       data={"csrf_token": csrf_token(client, "/admin"), "role": "mentor"})
    statuses.append(resp.status_code)


def _roles(app) -> dict[str, str]:
    with app.app_context():
        db.session.expire_all()
        return dict(db.session.execute(sa.select(User.username, User.role)).all())


def _ids(app) -> dict[str, int]:
    with app.app_context():
        return dict(db.session.execute(sa.select(User.username, User.id)).all())


def test_two_admins_demoting_each_other_leave_one_admin(app, auth):
    ada, bo = _admin_client(app, auth, "ada"), _admin_client(app, auth, "bo")
    ids = _ids(app)
    reached, done, statuses = threading.Event(), threading.Event(), []

    def ada_demotes_bo() -> None:
        with pause_after(app, "UPDATE users SET role", done, reached):
            _demote(ada, ids["bo"], statuses)

    def bo_demotes_ada() -> None:
        reached.wait(10)
        _demote(bo, ids["ada"], statuses)
        done.set()

    _run([threading.Thread(target=ada_demotes_bo), threading.Thread(target=bo_demotes_ada)])
    assert reached.is_set()
    assert _roles(app) == {"ada": "admin", "bo": "mentor"}
    assert sorted(statuses) == [303, 400]


def test_repeated_races_always_leave_exactly_one_admin(app, auth):
    ada, bo = _admin_client(app, auth, "ada"), _admin_client(app, auth, "bo")
    ids = _ids(app)
    for _ in range(10):
        with app.app_context():
            db.session.execute(sa.update(User).values(role="admin"))
            db.session.commit()
        start, statuses = threading.Barrier(2), []

        def demote(client, target: int) -> None:
            start.wait(10)
            _demote(client, target, statuses)

        _run([threading.Thread(target=demote, args=(ada, ids["bo"])),
              threading.Thread(target=demote, args=(bo, ids["ada"]))])
        assert sorted(_roles(app).values()) == ["admin", "mentor"]
        # The loser is refused as the last admin (400), or, if the winner committed before
        # the loser's request was authorised, as no longer an admin (403).
        assert sorted(statuses)[0] == 303 and sorted(statuses)[1] in (400, 403)
