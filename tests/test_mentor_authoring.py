"""The mentor area: dashboard, authoring on the web, compute, scholar preview, publish,
duplicate, export; every route is for mentors and admins only."""
from __future__ import annotations

import html
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from puzzle_platform.extensions import db
from puzzle_platform.markdown import MAX_MARKDOWN_CHARS, render_markdown
from puzzle_platform.models import Artifact, GradeChange, Job, Puzzle, Submission
from tests.helpers import (MEAN_QUESTION_TOML, add_artifact, after_reveal, challenge_mean, csrf_token, figure_toml, mean_question, question_toml,
                           write_puzzle)

SECRET = "SECRET-ANSWER-TEXT"

SPEC_TOML = figure_toml(title="Cosines") + MEAN_QUESTION_TOML


def local(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M")


def puzzle_form(**over) -> dict:
    """A valid authoring form for a live puzzle (times in UTC), fields overridable."""
    now = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    form = {
        "number": "7", "slug": "web-puzzle", "title": "Web puzzle", "summary": "Made in the browser.",
        "statement_md": "Look at **this**. $x^2$\n", "answer_md": f"The answer: {SECRET}.\n",
        "release_at": local(now - timedelta(days=1)), "deadline_at": local(now + timedelta(days=1)),
        "reveal_at": local(now + timedelta(days=2)), "tz": "UTC", "spec_toml": SPEC_TOML,
    }
    form.update(over)
    return form


def token(client) -> str:
    """The session's CSRF token (the logout form carries it once logged in)."""
    try:
        return csrf_token(client, "/")
    except AssertionError:
        return csrf_token(client, "/login")


def post(client, url: str, data: dict | None = None, **kwargs):
    return client.post(url, data={"csrf_token": token(client), **(data or {})}, **kwargs)


def page_text(resp) -> str:
    return html.unescape(resp.get_data(as_text=True))


def login_as(auth, role: str) -> None:
    auth.create_user(f"{role}1", role=role)
    auth.login(f"{role}1")


def get_puzzle(app, slug: str) -> Puzzle | None:
    with app.app_context():
        puzzle = db.session.scalar(sa.select(Puzzle).where(Puzzle.slug == slug))
        if puzzle is not None:
            _ = (puzzle.questions, puzzle.figures)  # load before the session closes
        return puzzle


def count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def _sam_answers(app, client, auth, puzzles_dir, sync, value: str, questions: str | None = None) -> None:
    """A live file puzzle (truth 0.5) that the scholar sam registers for and answers once."""
    write_puzzle(puzzles_dir, questions=questions)
    sync()
    add_artifact(app, "test-puzzle", "fig", {"mean_cos": 0.5})
    auth.register("sam")
    client.post("/puzzles/test-puzzle/questions/mean", data={"csrf_token": token(client), "value": value})
    auth.logout()


@pytest.fixture
def world(app, client, auth, puzzles_dir, sync):
    """A live file puzzle with ground truth, a graded scholar attempt carrying an override."""
    _sam_answers(app, client, auth, puzzles_dir, sync, "0.9", challenge_mean(max_attempts=3))
    with app.app_context():
        sub = db.session.scalar(sa.select(Submission))
        assert sub.status == "graded"
        sub.override_points, sub.override_reason = 3.0, "seeded"
        db.session.commit()
        return {"sub_id": sub.id}


def mentor_routes(app, sub_id: int) -> list[tuple[str, str, dict | None]]:
    """Every route of the mentor area with a request that succeeds for a mentor (export: for
    an admin; see ADMIN_ONLY)."""
    from puzzle_platform.content.authoring import PuzzleForm

    with app.app_context():
        edit = PuzzleForm.from_puzzle(db.session.scalar(sa.select(Puzzle))).as_dict()
    edit["title"] = "Edited title"
    base = "/mentor/puzzles/test-puzzle"
    return [
        ("GET", "/mentor", None), ("GET", "/mentor/puzzles/new", None), ("GET", base, None),
        ("GET", f"{base}/edit", None), ("GET", f"{base}/preview", None),
        ("GET", f"{base}/questions/mean/submissions", None), ("GET", f"{base}/submissions.csv", None),
        ("POST", "/mentor/puzzles/new", puzzle_form()), ("POST", f"{base}/edit", edit),
        ("POST", "/mentor/preview", {"markdown": "*hi*"}), ("POST", f"{base}/compute", {}),
        ("POST", f"{base}/publish", {}), ("POST", f"{base}/unpublish", {}),
        ("POST", f"{base}/duplicate", {"number": "9", "slug": "copy"}), ("POST", f"{base}/export", {}),
        ("POST", f"{base}/questions/mean/regrade", {}),
        ("POST", f"/mentor/submissions/{sub_id}/override", {"points": "5", "reason": "method"}),
        ("POST", f"/mentor/submissions/{sub_id}/override/remove", {}),
    ]


ADMIN_ONLY = {"/mentor/puzzles/test-puzzle/export"}  # writes into the server's puzzles folder


@pytest.mark.parametrize("role, expected", [(None, 401), ("scholar", 403), ("mentor", 200), ("admin", 200)])
def test_every_mentor_route_is_for_mentors_and_admins(app, client, auth, world, role, expected):
    """Anonymous 401, scholars 403 on every route; mentors and admins get through (POSTs
    followed to their page), except that mentors get 403 on the admin-only export. One fresh
    database per role, the routes in order."""
    if role:
        login_as(auth, role)
    routes = mentor_routes(app, world["sub_id"])
    assert len(routes) == 18
    got = []
    for method, url, data in routes:
        resp = client.get(url) if method == "GET" else post(client, url, data, follow_redirects=True)
        got.append((method, url, resp.status_code))
    assert got == [(method, url, 403 if role == "mentor" and url in ADMIN_ONLY else expected)
                   for method, url, _ in routes]


def test_dashboard_lists_every_puzzle_with_origin_and_jobs(app, client, auth, puzzles_dir, sync):
    write_puzzle(puzzles_dir, state="upcoming", title="Future file puzzle")
    sync()
    login_as(auth, "mentor")
    assert post(client, "/mentor/puzzles/new", puzzle_form()).status_code == 303
    assert post(client, "/mentor/puzzles/test-puzzle/compute").status_code == 303
    text = page_text(client.get("/mentor"))
    assert "Future file puzzle" in text and "Web puzzle" in text
    assert '<td class="origin">files</td>' in text and '<td class="origin">web</td>' in text
    assert "no (draft)" in text and "queued" in text


def test_create_puzzle_on_the_web(app, client, auth):
    login_as(auth, "mentor")
    form = puzzle_form(tz="America/New_York", release_at="2030-01-15T12:00",
                       deadline_at="2030-01-20T12:00", reveal_at="2030-07-01T12:00",
                       statement_md="Line one\r\nline two\r\n")
    resp = post(client, "/mentor/puzzles/new", form)
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/mentor/puzzles/web-puzzle")
    puzzle = get_puzzle(app, "web-puzzle")
    assert (puzzle.origin, puzzle.published, puzzle.number) == ("web", False, 7)
    # EST is UTC-5 in January, EDT UTC-4 in July: stored in UTC.
    assert puzzle.release_at == datetime(2030, 1, 15, 17, 0, tzinfo=timezone.utc)
    assert puzzle.reveal_at == datetime(2030, 7, 1, 16, 0, tzinfo=timezone.utc)
    assert puzzle.statement_md == "Line one\nline two\n"  # browsers' CRLF normalised
    assert [q.key for q in puzzle.questions] == ["mean"] and puzzle.questions[0].grader_params["scale"] == 0.5
    assert [f.key for f in puzzle.figures] == ["fig"] and puzzle.source_hash
    with app.app_context():
        from puzzle_platform.models import User
        assert puzzle.created_by == db.session.scalar(sa.select(User.id).where(User.username == "mentor1"))


def test_new_form_shows_registry_docs_and_timezone(app, client, auth):
    login_as(auth, "admin")
    text = page_text(client.get("/mentor/puzzles/new"))
    from graders import GRADERS
    from puzzle_platform.recipes import RECIPES
    # The new form's figure (embedding_cosine) and question (numeric, interval) carry their docs;
    # every recipe and every numeric grader is offered in its select.
    grader, recipe = GRADERS["interval"], RECIPES["embedding_cosine"]
    assert grader.description in text and all(doc in text for doc in grader.param_doc.values())
    assert recipe.description in text and all(doc in text for doc in recipe.param_doc.values())
    assert all(f'<option value="{name}"' in text for name in RECIPES)
    assert all(f'<option value="{g.name}"' in text for g in GRADERS.values() if "numeric" in g.kinds)
    assert 'type="datetime-local"' in text and 'name="tz"' in text and 'data-auto="1"' in text
    assert "Times are in" in text and "Europe/Berlin" in text
    assert 'name="csrf_token"' in text and "mentor.js" in text


BAD_INPUTS = [
    ({"spec_toml": SPEC_TOML.replace('grader = "interval"', 'grader = "nope"')}, "unknown grader 'nope'"),
    ({"spec_toml": SPEC_TOML.replace("scale = 0.5", "scale = -1")}, "scale must be"),
    ({"spec_toml": SPEC_TOML.replace("scale = 0.5", "scale = 0.5, bogus = 1")}, "unknown parameter 'bogus'"),
    ({"spec_toml": SPEC_TOML.replace('recipe = "embedding_cosine"', 'recipe = "nope"')}, "unknown recipe 'nope'"),
    ({"spec_toml": SPEC_TOML.replace('weights = "raw"', 'weights = "cooked"')}, "parameter 'weights'"),
    ({"spec_toml": SPEC_TOML.replace('"fig.mean_cos"', '"fig.median"')}, "does not produce 'median'"),
    ({"spec_toml": SPEC_TOML.replace("grader_params = { scale = 0.5 }", 'grader_params = "x"')},
     "grader_params must be a table"),
    ({"spec_toml": SPEC_TOML.split("[[questions]]")[0]}, "a puzzle needs at least one question"),
    ({"spec_toml": "[[questions]\nkey ="}, "not valid TOML"),
    ({"spec_toml": 'title = "sneaky"\n' + SPEC_TOML}, "only [[figures]] and [[questions]]"),
    ({"reveal_at": "2000-01-01T00:00"}, "schedule must satisfy release_at <= deadline_at <= reveal_at"),
    ({"deadline_at": "tomorrow"}, "deadline_at: enter a date and time"),
    ({"tz": "Mars/Olympus"}, "unknown time zone 'Mars/Olympus'"),
    ({"slug": "test-puzzle"}, "slug test-puzzle is already used by puzzle 1"),
    ({"number": "1"}, "number 1 is already used by puzzle 1 (test-puzzle)"),
    ({"number": "seven"}, "number must be a whole number"),
    ({"number": "10000"}, "number must be a whole number from 0 to 9999"),
    ({"slug": "Bad Slug"}, "slug must be lowercase"),
    ({"title": "  "}, "title is required"),
    ({"statement_md": "x" * (MAX_MARKDOWN_CHARS + 1)}, f"statement: longer than {MAX_MARKDOWN_CHARS} characters"),
    ({"answer_md": "x" * (MAX_MARKDOWN_CHARS + 1)}, f"answer: longer than {MAX_MARKDOWN_CHARS} characters"),
]


@pytest.mark.parametrize("change, reason", BAD_INPUTS)
def test_bad_form_is_shown_again_with_reason_and_nothing_changes(app, client, auth, puzzles_dir, sync,
                                                                 change, reason):
    write_puzzle(puzzles_dir)
    sync()
    login_as(auth, "mentor")
    before = (count(app, Puzzle), get_puzzle(app, "test-puzzle").updated_at)
    form = puzzle_form(**change)
    resp = post(client, "/mentor/puzzles/new", form)
    text = page_text(resp)
    assert resp.status_code == 400
    assert reason in text, text[:3000]
    assert f'value="{form["title"]}"' in text or not form["title"].strip()  # the form comes back filled in
    assert (count(app, Puzzle), get_puzzle(app, "test-puzzle").updated_at) == before


def test_edit_form_round_trip_and_update(app, client, auth, puzzles_dir, sync):
    write_puzzle(puzzles_dir)
    sync()
    login_as(auth, "mentor")
    text = page_text(client.get("/mentor/puzzles/test-puzzle/edit"))
    puzzle = get_puzzle(app, "test-puzzle")
    assert f'value="{puzzle.release_at:%Y-%m-%dT%H:%M:%S}"' in text and 'data-utc="' in text
    assert "readonly" in text and "replaces edits made here" in text  # a puzzle from files
    from puzzle_platform.content.authoring import PuzzleForm
    with app.app_context():
        form = PuzzleForm.from_puzzle(db.session.scalar(sa.select(Puzzle))).as_dict()
    assert 'recipe = "embedding_cosine"' in form["spec_toml"] and "alpha" not in form["spec_toml"]
    form["title"] = "Renamed on the web"
    resp = post(client, "/mentor/puzzles/test-puzzle/edit", form)
    assert resp.status_code == 303
    updated = get_puzzle(app, "test-puzzle")
    assert updated.title == "Renamed on the web" and updated.origin == "files"
    assert (updated.release_at, updated.reveal_at) == (puzzle.release_at, puzzle.reveal_at)  # to the second
    # The same form again: nothing to do.
    resp = post(client, "/mentor/puzzles/test-puzzle/edit", form, follow_redirects=True)
    assert "Saved: nothing changed." in page_text(resp)


def _answered(app, client, auth, puzzles_dir, sync) -> dict:
    _sam_answers(app, client, auth, puzzles_dir, sync, "0.7")
    login_as(auth, "mentor")
    from puzzle_platform.content.authoring import PuzzleForm
    with app.app_context():
        return PuzzleForm.from_puzzle(db.session.scalar(sa.select(Puzzle))).as_dict()


def test_edit_grading_regrades_attempts_with_a_log(app, client, auth, puzzles_dir, sync):
    form = _answered(app, client, auth, puzzles_dir, sync)
    with after_reveal():  # the forecast is scored at the reveal; then a grader edit regrades it
        _edit_after_reveal(app, client, form)


def _edit_after_reveal(app, client, form) -> None:
    client.get("/leaderboard")
    with app.app_context():
        assert db.session.scalar(sa.select(Submission.points)) == pytest.approx(6.0)
    form["spec_toml"] = form["spec_toml"].replace("scale = 0.5", "scale = 1.0")
    resp = post(client, "/mentor/puzzles/test-puzzle/edit", form, follow_redirects=True)
    assert resp.status_code == 200 and "regraded 1 attempt(s) of mean" in page_text(resp)
    with app.app_context():
        assert db.session.scalar(sa.select(Submission.points)) == pytest.approx(8.0)
        change = db.session.scalar(sa.select(GradeChange).order_by(GradeChange.id.desc()))
        assert (change.old_points, change.new_points) == (pytest.approx(6.0), pytest.approx(8.0))


@pytest.mark.parametrize("change, reason", [
    (lambda f: {**f, "spec_toml": f["spec_toml"].replace('key = "mean"', 'key = "other"')
                                                .replace('"fig.mean_cos"', '"fig.std_cos"')},
     "question 'mean' has 1 attempt(s) and cannot be removed"),
    (lambda f: {**f, "slug": "renamed"}, "the slug cannot be changed"),
    (lambda f: {**f, "number": "7"}, "number 7 is already used by puzzle 7 (other)"),
])
def test_bad_edit_is_refused_whole(app, client, auth, puzzles_dir, sync, change, reason):
    form = _answered(app, client, auth, puzzles_dir, sync)
    write_puzzle(puzzles_dir, number=7, slug="other")
    sync()
    before = get_puzzle(app, "test-puzzle")
    form["title"] = "Should not be saved"
    resp = post(client, "/mentor/puzzles/test-puzzle/edit", change(form))
    assert resp.status_code == 400 and reason in page_text(resp)
    after = get_puzzle(app, "test-puzzle")
    assert after.title == before.title and [q.key for q in after.questions] == ["mean"]


def test_markdown_preview_uses_the_sanitiser(app, client, auth):
    login_as(auth, "mentor")
    source = "**bold** $x^2$ <script>alert(1)</script> [x](javascript:alert(1))\n\n::: spoiler Hint\nhidden\n:::\n"
    resp = client.post("/mentor/preview", json={"markdown": source},
                       headers={"X-CSRFToken": token(client), "Accept": "application/json"})
    assert resp.status_code == 200
    out = resp.get_json()["html"]
    with app.app_context():
        assert out == str(render_markdown(source))
    assert "<strong>bold</strong>" in out and "<math" in out and '<details class="spoiler">' in out
    assert "<script" not in out and "&lt;script&gt;" in out and "href=\"javascript" not in out


def test_markdown_preview_refuses_bad_input(app, client, auth):
    login_as(auth, "mentor")
    headers = {"X-CSRFToken": token(client), "Accept": "application/json"}
    resp = client.post("/mentor/preview", json={"markdown": "x" * (MAX_MARKDOWN_CHARS + 1)}, headers=headers)
    assert resp.status_code == 400 and "longer than" in resp.get_json()["error"]["message"]
    for body in ({"markdown": ["not", "text"]}, ["not", "an", "object"]):
        resp = client.post("/mentor/preview", json=body, headers=headers)
        assert resp.status_code == 400 and "markdown must be a string" in resp.get_json()["error"]["message"]
    resp = client.post("/mentor/preview", json={"markdown": "hi"}, headers={"Accept": "application/json"})
    assert resp.status_code == 400 and "security token" in resp.get_json()["error"]["message"]


def test_compute_now_queues_jobs_and_shows_progress(app, client, auth, puzzles_dir, sync):
    write_puzzle(puzzles_dir, state="upcoming")
    sync()
    login_as(auth, "mentor")
    resp = post(client, "/mentor/puzzles/test-puzzle/compute", follow_redirects=True)
    assert resp.status_code == 200 and "Computing 1 figure(s)" in page_text(resp)
    with app.app_context():
        job = db.session.scalar(sa.select(Job))
        assert (job.status, job.figure_key, job.kind) == ("queued", "fig", "figure")
    text = page_text(resp)
    assert 'data-progress-url="/puzzles/test-puzzle/progress.json"' in text and 'data-figure-key="fig"' in text
    # Twice: the unfinished job is reused, not duplicated.
    post(client, "/mentor/puzzles/test-puzzle/compute")
    assert count(app, Job) == 1
    progress = client.get("/puzzles/test-puzzle/progress.json").get_json()
    assert progress["figures"][0]["job"]["status"] == "queued"


def _literal_question(prompt: str, truth: float) -> str:
    """A "lit" question with a literal truth, graded within 0.1."""
    return question_toml("lit", prompt, grader="abs_tol", grader_params={"tolerance": 0.1}, truth=truth)


def test_compute_without_figures_is_refused(app, client, auth, puzzles_dir, sync):
    write_puzzle(puzzles_dir, figures="", questions=_literal_question("Two plus two?", 4))
    sync()
    login_as(auth, "mentor")
    resp = post(client, "/mentor/puzzles/test-puzzle/compute")
    assert resp.status_code == 400 and "no figures to compute" in page_text(resp)
    assert count(app, Job) == 0


def test_preview_is_the_scholar_page_without_answer_or_truth(app, client, auth, puzzles_dir, sync):
    write_puzzle(puzzles_dir, state="upcoming",
                 questions=mean_question(kind=None) + _literal_question("A literal question.", 4242.5))
    sync()
    add_artifact(app, "test-puzzle", "fig", {"mean_cos": 0.912345678})
    login_as(auth, "mentor")
    mentor_page = page_text(client.get("/puzzles/test-puzzle"))
    assert SECRET in mentor_page  # the mentor's own view has the answer: the check below can fail
    resp = client.get("/mentor/puzzles/test-puzzle/preview")
    text = page_text(resp)
    assert resp.status_code == 200
    assert "Look at the figure." in text and "Predict the mean cosine." in text and '<span class="badge live">' in text
    assert SECRET not in text and "0.912" not in text and "4242" not in text
    assert "mentor preview: not released yet" not in text and "mentors only" not in text
    assert "Preview: this is what a scholar sees" in text and "100 of 100 predictions left" in text
    assert 'disabled title="Mentor preview: submitting is off"' in text


def test_publish_and_unpublish(app, client, auth, puzzles_dir, sync):
    write_puzzle(puzzles_dir, title="Live title")
    sync()
    login_as(auth, "mentor")
    assert post(client, "/mentor/puzzles/test-puzzle/unpublish").status_code == 303
    auth.logout()
    assert client.get("/puzzles/test-puzzle").status_code == 404
    assert "Live title" not in page_text(client.get("/"))
    auth.login("mentor1")
    add_artifact(app, "test-puzzle", "fig", {"mean_cos": 0.5})
    assert post(client, "/mentor/puzzles/test-puzzle/publish").status_code == 200  # the confirmation
    assert post(client, "/mentor/puzzles/test-puzzle/publish", {"confirm": "1"}).status_code == 303
    auth.logout()
    assert client.get("/puzzles/test-puzzle").status_code == 200


def test_web_puzzle_is_a_draft_until_published(app, client, auth):
    login_as(auth, "mentor")
    post(client, "/mentor/puzzles/new", puzzle_form(title="Draft title"))
    auth.logout()
    auth.register("sam")
    assert client.get("/puzzles/web-puzzle").status_code == 404  # live times, but unpublished
    auth.logout()
    auth.login("mentor1")
    post(client, "/mentor/puzzles/web-puzzle/publish", {"confirm": "1", "override": "1"})
    auth.logout()
    auth.login("sam")
    assert "Draft title" in page_text(client.get("/puzzles/web-puzzle"))


def test_duplicate_copies_content_not_attempts(app, client, auth, puzzles_dir, sync):
    _answered(app, client, auth, puzzles_dir, sync)
    resp = post(client, "/mentor/puzzles/test-puzzle/duplicate", {"number": "12", "slug": "test-copy"})
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/mentor/puzzles/test-copy")
    orig, copy = get_puzzle(app, "test-puzzle"), get_puzzle(app, "test-copy")
    assert (copy.number, copy.origin, copy.published) == (12, "web", False)
    assert (copy.statement_md, copy.answer_md, copy.title) == (orig.statement_md, orig.answer_md, orig.title)
    assert [(q.key, q.grader, q.grader_params, q.statistic) for q in copy.questions] == \
        [(q.key, q.grader, q.grader_params, q.statistic) for q in orig.questions]
    assert [(f.key, f.recipe, f.params) for f in copy.figures] == [(f.key, f.recipe, f.params) for f in orig.figures]
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Submission)
                                 .where(Submission.puzzle_id == copy.id)) == 0
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Artifact)
                                 .where(Artifact.puzzle_id == copy.id)) == 0
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Artifact)
                                 .where(Artifact.puzzle_id == orig.id)) == 1


@pytest.mark.parametrize("data, reason", [
    ({"number": "13", "slug": "test-puzzle"}, "slug test-puzzle is already used"),
    ({"number": "1", "slug": "fresh"}, "number 1 is already used"),
    ({"number": "x", "slug": "fresh"}, "number must be a whole number"),
    ({"number": "13", "slug": "Not OK"}, "slug must be lowercase"),
])
def test_duplicate_bad_input(app, client, auth, puzzles_dir, sync, data, reason):
    write_puzzle(puzzles_dir)
    sync()
    login_as(auth, "mentor")
    resp = post(client, "/mentor/puzzles/test-puzzle/duplicate", data)
    assert resp.status_code == 400 and reason in page_text(resp)
    assert count(app, Puzzle) == 1


def test_export_refuses_a_folder_conflict(app, client, auth, puzzles_dir, sync):
    login_as(auth, "admin")
    post(client, "/mentor/puzzles/new", puzzle_form())
    (puzzles_dir / "07-someone-else").mkdir()
    resp = post(client, "/mentor/puzzles/web-puzzle/export")
    assert resp.status_code == 409 and "already holds this slug or number" in page_text(resp)
    assert not (puzzles_dir / "07-web-puzzle").exists()


def test_unknown_puzzle_is_404(app, client, auth):
    login_as(auth, "mentor")
    assert client.get("/mentor/puzzles/nope").status_code == 404
    assert post(client, "/mentor/puzzles/nope/publish").status_code == 404
