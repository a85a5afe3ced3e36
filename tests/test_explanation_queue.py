"""The mentors' grading queue of an explanation question, through the HTTP client: the
queue and its progress, anonymity until graded, claims (one mentor per answer, a timeout),
grading with rubric items and a comment, featuring, and the CSV of rubric applications."""
from __future__ import annotations

import csv
import io
import re
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from freezegun import freeze_time

from puzzle_platform.extensions import db
from puzzle_platform.models import Submission
from puzzle_platform.models.explanation import ExplanationGrade, RubricApplication
from tests.explanation_fixtures import add_explanation_question, add_version
from tests.helpers import csrf_token, question_toml, write_puzzle


SLUG = "test-puzzle"
Q = f"/mentor/puzzles/{SLUG}/questions/explain/explanations"
A = "/mentor/explanations"


@pytest.fixture
def world(app, puzzles_dir, sync, auth):
    """A closed puzzle with an explanation question; ann (two versions), bob and cy (one
    version each, and cy a late one after the deadline) answered it; mentors mona and mark."""
    write_puzzle(puzzles_dir, state="closed", figures="", questions=question_toml(
        "lit", "A number.", kind="numeric", grader="abs_tol", grader_params={"tolerance": 0.01}, truth=0.5))
    sync()
    for name in ("ann", "bob", "cy"):
        auth.create_user(name)
    for name in ("mona", "mark"):
        auth.create_user(name, role="mentor")
    qid = add_explanation_question(app, SLUG)
    subs = {
        "ann1": add_version(app, "ann", qid, "Ann's first draft ANN-DRAFT.", timedelta(hours=5)),
        "bob": add_version(app, "bob", qid, "Bob says **anisotropy** BOB-TEXT.", timedelta(hours=4)),
        "cy": add_version(app, "cy", qid, "Cy: the mean vector CY-TEXT.", timedelta(hours=3)),
        "ann2": add_version(app, "ann", qid, "Ann's final answer ANN-FINAL.", timedelta(hours=2)),
        "cy_late": add_version(app, "cy", qid, "Too late CY-LATE.", timedelta(hours=-1)),
    }
    return {"qid": qid, **subs}


def mentor(app, name: str = "mona"):
    client = app.test_client()
    resp = client.post("/login", data={"csrf_token": csrf_token(client), "username": name,
                                       "password": "correct horse battery"})
    assert resp.status_code == 302
    return client


def post(client, url: str, **data):
    return client.post(url, data={"csrf_token": csrf_token(client, Q), **data})


def claim(client, **data) -> int:
    """Grade next ungraded: the id of the answer it opens."""
    resp = post(client, f"{Q}/next", **data)
    assert resp.status_code == 303, resp.get_data(as_text=True)
    match = re.search(r"/explanations/(\d+)$", resp.location)
    assert match, resp.location
    return int(match.group(1))


def grade_row(app, sub_id: int):
    with app.app_context():
        row = db.session.scalar(sa.select(ExplanationGrade).where(ExplanationGrade.submission_id == sub_id))
        if row is None:
            return None
        keys = sorted(db.session.scalars(sa.text(
            "SELECT r.key FROM rubric_applications a JOIN rubric_items r ON r.id = a.rubric_item_id "
            "WHERE a.grade_id = :g"), {"g": row.id}))
        return {"comment": row.comment, "graded_by": row.graded_by, "graded": row.graded_at is not None,
                "claimed_by": row.claimed_by, "featured": row.featured, "items": keys}


def user_id(app, name: str) -> int:
    from puzzle_platform.models import User
    with app.app_context():
        return db.session.scalar(sa.select(User.id).where(User.username == name))


def test_queue_is_anonymous_until_graded_and_counts_one_version_each(app, world):
    client = mentor(app)
    page = client.get(Q).get_data(as_text=True)
    assert "0 of 3 graded" in page
    assert "Answer #1" in page and "Answer #3" in page and "Answer #4" not in page
    for name in ("Ann", "Bob", "Cy"):
        assert f">{name} <" not in page and f"{name.lower()}</span>" not in page
    # The first in the queue is ann (first to answer); her counted version is her last one.
    first = claim(client)
    assert first == world["ann2"]
    answer = client.get(f"{A}/{first}").get_data(as_text=True)
    assert "ANN-FINAL" in answer and "ANN-DRAFT" not in answer and "Answer #1" in answer
    assert "ann</span>" not in answer
    # Superseded and late versions are not in the queue.
    assert client.get(f"{A}/{world['ann1']}").status_code == 404
    assert client.get(f"{A}/{world['cy_late']}").status_code == 404

    resp = post(client, f"{A}/{first}", items=["mean_vector", "evidence"], comment="Good.", then="stay")
    assert resp.status_code == 303
    assert grade_row(app, first) == {"comment": "Good.", "graded_by": user_id(app, "mona"), "graded": True,
                                     "claimed_by": None, "featured": False, "items": ["evidence", "mean_vector"]}
    page = client.get(Q).get_data(as_text=True)
    assert "1 of 3 graded" in page and "ann</span>" in page and "Answer #2" in page
    answer = client.get(f"{A}/{first}").get_data(as_text=True)
    assert "ann</span>" in answer and "Answer #1" not in answer


def test_markdown_is_rendered_with_the_sanitizer(app, world):
    client = mentor(app)
    with app.app_context():
        db.session.get(Submission, world["bob"]).payload = {"text": "**anisotropy** <script>alert(1)</script>"}
        db.session.commit()
    page = client.get(f"{A}/{world['bob']}").get_data(as_text=True)
    assert "<strong>anisotropy</strong>" in page and "<script>alert(1)" not in page


def test_save_and_next_walks_the_queue_until_all_are_graded(app, world):
    client = mentor(app)
    opened = claim(client)
    seen = []
    while True:
        seen.append(opened)
        resp = post(client, f"{A}/{opened}", items=["anisotropy"], comment="", then="next")
        assert resp.status_code == 303
        match = re.search(r"/explanations/(\d+)$", resp.location)
        if not match:
            break
        opened = int(match.group(1))
    assert seen == [world["ann2"], world["bob"], world["cy"]]
    assert resp.location.endswith(Q)
    assert "3 of 3 graded" in client.get(Q).get_data(as_text=True)
    assert all(grade_row(app, s)["items"] == ["anisotropy"] for s in seen)


def test_two_mentors_get_different_answers_and_cannot_overwrite_a_claim(app, world):
    mona, mark = mentor(app, "mona"), mentor(app, "mark")
    a = claim(mona)
    b = claim(mark)
    assert a != b and {a, b} <= {world["ann2"], world["bob"], world["cy"]}
    # Mark saving Mona's open answer is refused, and nothing changes.
    before = grade_row(app, a)
    resp = post(mark, f"{A}/{a}", items=["evidence"], comment="Mark's comment", then="stay")
    assert resp.status_code == 409
    assert "Mona has this answer open" in resp.get_data(as_text=True)
    assert grade_row(app, a) == before == {"comment": "", "graded_by": None, "graded": False,
                                           "claimed_by": user_id(app, "mona"), "featured": False, "items": []}
    page = mark.get(f"{A}/{a}").get_data(as_text=True)
    assert "another mentor has this answer open" in page
    # Each grades their own; the third is left for whoever comes next.
    assert post(mona, f"{A}/{a}", items=["mean_vector"], comment="M1", then="stay").status_code == 303
    assert post(mark, f"{A}/{b}", items=["anisotropy"], comment="M2", then="stay").status_code == 303
    assert grade_row(app, a)["items"] == ["mean_vector"] and grade_row(app, b)["items"] == ["anisotropy"]
    c = claim(mark)
    assert c not in (a, b)
    assert "2 of 3 graded" in mona.get(Q).get_data(as_text=True)


def test_a_claim_times_out(app, world):
    mona, mark = mentor(app, "mona"), mentor(app, "mark")
    a = claim(mona)
    with freeze_time(datetime.now(timezone.utc) + timedelta(minutes=9)):
        assert claim(mark) != a  # still Mona's
    with freeze_time(datetime.now(timezone.utc) + timedelta(minutes=11)):
        # Mona walked away: her claim lapsed, so Mark may take it (his earlier one is released).
        assert claim(mark) == a
        resp = post(mona, f"{A}/{a}", items=["evidence"], comment="late", then="stay")
        assert resp.status_code == 409
        assert post(mark, f"{A}/{a}", items=["evidence"], comment="ok", then="stay").status_code == 303
    assert grade_row(app, a)["comment"] == "ok"


def test_skip_releases_the_answer_and_opens_the_next(app, world):
    mona, mark = mentor(app, "mona"), mentor(app, "mark")
    a = claim(mona)
    b = claim(mona, skip=str(a))
    assert b != a and grade_row(app, a)["claimed_by"] is None
    assert claim(mark) == a  # free again


def test_bad_grades_are_refused_and_change_nothing(app, world):
    client = mentor(app)
    a = claim(client)
    before = grade_row(app, a)
    resp = post(client, f"{A}/{a}", items=["mean_vector", "nope"], comment="", then="stay")
    assert resp.status_code == 400 and "no rubric item &#39;nope&#39;" in resp.get_data(as_text=True)
    resp = post(client, f"{A}/{a}", items=[], comment="x" * 5001, then="stay")
    assert resp.status_code == 400
    assert grade_row(app, a) == before
    # An answer of another question, or no answer at all.
    assert post(client, f"{A}/999999", comment="", then="stay").status_code == 404
    assert client.get(f"/mentor/puzzles/{SLUG}/questions/lit/explanations").status_code == 404


def test_only_graded_answers_can_be_featured(app, world):
    client = mentor(app)
    a = claim(client)
    resp = post(client, f"{A}/{a}/feature", on="1")
    assert resp.status_code == 409 and "only a graded answer" in resp.get_data(as_text=True)
    assert grade_row(app, a)["featured"] is False
    post(client, f"{A}/{a}", items=["evidence"], comment="", then="stay")
    assert post(client, f"{A}/{a}/feature", on="1").status_code == 303
    assert grade_row(app, a)["featured"] is True
    assert "featured" in client.get(Q).get_data(as_text=True)
    assert post(client, f"{A}/{a}/feature", on="0").status_code == 303
    assert grade_row(app, a)["featured"] is False


def test_csv_of_rubric_applications(app, world):
    client = mentor(app)
    post(client, f"{A}/{world['bob']}", items=["anisotropy", "evidence"], comment="=cmd()", then="stay")
    post(client, f"{A}/{world['cy']}", items=["wrong_norm"], comment="Mixed up", then="stay")
    resp = client.get(f"{Q}.csv")
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(resp.get_data(as_text=True))))
    assert list(rows[0]) == ["username", "submission_id", "version_at", "mean_vector", "anisotropy",
                             "evidence", "wrong_norm", "points", "comment", "grader", "graded_at"]
    assert [(r["username"], int(r["submission_id"])) for r in rows] == [("bob", world["bob"]), ("cy", world["cy"])]
    bob, cy = rows
    assert (bob["mean_vector"], bob["anisotropy"], bob["evidence"], bob["wrong_norm"]) == ("0", "1", "1", "0")
    assert float(bob["points"]) == 7.0 and bob["comment"] == "'=cmd()" and bob["grader"] == "mona"
    assert float(cy["points"]) == 0.0 and cy["wrong_norm"] == "1"  # clamped at zero
    assert bob["version_at"].endswith("Z") and bob["graded_at"].endswith("Z")
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(RubricApplication)) == 3


def test_scholars_and_visitors_are_kept_out(app, world, auth):
    """The security matrix covers these once its world has an explanation question; here too."""
    urls = [("GET", Q), ("POST", f"{Q}/next"), ("GET", f"{Q}.csv"), ("GET", f"{A}/{world['bob']}"),
            ("POST", f"{A}/{world['bob']}"), ("POST", f"{A}/{world['bob']}/feature")]
    visitor = app.test_client()
    scholar = app.test_client()
    assert scholar.post("/login", data={"csrf_token": csrf_token(scholar), "username": "ann",
                                        "password": "correct horse battery"}).status_code == 302
    token = csrf_token(scholar, "/")
    for method, url in urls:
        for client, status in ((visitor, 401), (scholar, 403)):
            resp = client.get(url) if method == "GET" else client.post(url, data={
                "csrf_token": token if client is scholar else csrf_token(visitor), "items": "evidence"})
            assert resp.status_code == status, (method, url)
            assert "BOB-TEXT" not in resp.get_data(as_text=True)
    assert grade_row(app, world["bob"]) is None
