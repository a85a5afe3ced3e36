"""Export: a puzzle (web-authored or from files) -> puzzles/NN-slug/ -> `puzzles sync` says
"unchanged", and the written files mean exactly what the originals meant."""
from __future__ import annotations

import dataclasses
import textwrap
import tomllib

import sqlalchemy as sa

from puzzle_platform.extensions import db
from puzzle_platform.models import Puzzle
from puzzle_platform.content.files import load_puzzle
from tests.helpers import REPO, write_puzzle
from tests.test_mentor_authoring import login_as, page_text, post, puzzle_form

TRICKY_TOML = textwrap.dedent('''
    [[figures]]
    key = "neo"
    title = "Ünïcode — figure"
    recipe = "embedding_cosine"
    params = { model = "gpt-neo-small", histogram = "sample", center = true, revision = "main" }

    [[questions]]
    key = "mean"
    prompt = """A prompt over
    two lines with "quotes", a backslash \\\\ and $\\\\bar{x}$."""
    kind = "interval"
    grader = "interval"
    grader_params = { scale = 0.25, alpha = 0.2 }
    statistic = "neo.sample_mean_cos"
    points = 7.5
    max_attempts = 2
    unit = "cos"

    [[questions]]
    key = "why"
    prompt = "Pick one."
    kind = "choice"
    grader = "choice"
    choices = ["a common direction", "chance"]
    truth = "a common direction"
    points = 5
    max_attempts = 1

    [[questions]]
    key = "word"
    prompt = "Name it."
    kind = "text"
    grader = "exact_text"
    grader_params = { case_sensitive = true }
    truth = "Rogue Dimension"

    [[questions]]
    key = "count"
    prompt = "How many?"
    grader = "abs_tol"
    grader_params = { tolerance = 2, partial_until = 2 }
    truth = 50257
''')


def _spec_fields(spec) -> dict:
    return {k: v for k, v in dataclasses.asdict(spec).items() if k != "folder"}


def test_web_puzzle_export_then_sync_is_unchanged(app, client, auth, runner, puzzles_dir):
    login_as(auth, "admin")  # exporting writes to the server: admins only
    form = puzzle_form(spec_toml=TRICKY_TOML, tz="Asia/Kolkata",
                       statement_md="# Title\r\n\r\nText with `code` and trailing spaces  \r\n",
                       answer_md="Answer ✓\r\n::: spoiler More\r\nhidden\r\n:::\r\n")
    assert post(client, "/mentor/puzzles/new", form).status_code == 303
    resp = post(client, "/mentor/puzzles/web-puzzle/export", follow_redirects=True)
    assert resp.status_code == 200 and "Exported to" in page_text(resp)
    folder = puzzles_dir / "07-web-puzzle"
    assert sorted(p.name for p in folder.iterdir()) == ["answer.md", "puzzle.toml", "statement.md"]
    assert (folder / "statement.md").read_text() == "# Title\n\nText with `code` and trailing spaces  \n"
    table = tomllib.loads((folder / "puzzle.toml").read_text())
    # Defaults are left out; what the author wrote stays.
    assert table["figures"][0]["params"] == {"model": "gpt-neo-small", "histogram": "sample",
                                             "center": True, "revision": "main"}
    assert table["questions"][0]["grader_params"] == {"scale": 0.25, "alpha": 0.2}
    assert "grader_params" not in table["questions"][1]  # options = choices is the default
    assert table["questions"][3]["grader_params"] == {"tolerance": 2.0}
    result = runner.invoke(args=["puzzles", "sync"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "= 07-web-puzzle: unchanged"  # stderr: warnings (no worker)
    with app.app_context():
        puzzle = db.session.scalar(sa.select(Puzzle).where(Puzzle.slug == "web-puzzle"))
        assert puzzle.origin == "web" and puzzle.published is False  # sync leaves both alone


def test_file_puzzle_exports_to_the_same_meaning(app, runner, tmp_path):
    source = REPO / "puzzles"
    assert runner.invoke(args=["puzzles", "sync", "--dir", str(source)]).exit_code == 0
    original = load_puzzle(next(p for p in sorted(source.iterdir()) if p.is_dir()))
    out = tmp_path / "exported"
    result = runner.invoke(args=["puzzles", "export", original.slug, "--dir", str(out)])
    assert result.exit_code == 0, result.output
    folder = out / original.folder.name
    assert f"exported {original.slug} to {folder}" in result.output
    exported = load_puzzle(folder)
    assert _spec_fields(exported) == _spec_fields(original)
    assert exported.source_hash() == original.source_hash()
    for name in ("statement.md", "answer.md"):
        assert (folder / name).read_bytes() == (original.folder / name).read_bytes()
    written, authored = (tomllib.loads((d / "puzzle.toml").read_text()) for d in (folder, original.folder))
    assert [q["key"] for q in written["questions"]] == [q["key"] for q in authored["questions"]]
    assert [q.get("grader_params") for q in written["questions"]] == \
        [q.get("grader_params") for q in authored["questions"]]
    again = runner.invoke(args=["puzzles", "sync", "--dir", str(out)])
    assert again.exit_code == 0 and "unchanged" in again.output and "updated" not in again.output


def test_web_edit_of_a_file_puzzle_survives_export_and_sync(app, client, auth, runner, puzzles_dir, sync):
    write_puzzle(puzzles_dir)
    sync()
    login_as(auth, "admin")  # exporting writes to the server: admins only
    from puzzle_platform.content.authoring import PuzzleForm
    with app.app_context():
        form = PuzzleForm.from_puzzle(db.session.scalar(sa.select(Puzzle))).as_dict()
    form["title"] = "Edited on the web"
    assert post(client, "/mentor/puzzles/test-puzzle/edit", form).status_code == 303
    assert post(client, "/mentor/puzzles/test-puzzle/export").status_code == 303
    assert 'title = "Edited on the web"' in (puzzles_dir / "01-test-puzzle" / "puzzle.toml").read_text()
    assert [line for line in sync().splitlines() if not line.startswith("warning:")] == \
        ["= 01-test-puzzle: unchanged"]


def test_cli_export_errors(app, runner, puzzles_dir, sync, tmp_path):
    result = runner.invoke(args=["puzzles", "export", "ghost"])
    assert result.exit_code != 0 and "no puzzle 'ghost'" in result.output
    write_puzzle(puzzles_dir)
    sync()
    out = tmp_path / "out"
    (out / "01-another-slug").mkdir(parents=True)
    result = runner.invoke(args=["puzzles", "export", "test-puzzle", "--dir", str(out)])
    assert result.exit_code != 0 and "01-another-slug already holds this slug or number" in result.output
    assert not (out / "01-test-puzzle").exists()


def test_export_to_a_read_only_folder_says_why_without_the_path(app, client, auth, puzzles_dir):
    import os
    login_as(auth, "admin")
    assert post(client, "/mentor/puzzles/new", puzzle_form(spec_toml=TRICKY_TOML)).status_code == 303
    os.chmod(puzzles_dir, 0o555)
    try:
        if os.access(puzzles_dir, os.W_OK):
            # root ignores modes: make the folder a file's child instead
            os.chmod(puzzles_dir, 0o755)
            app.config["PUZZLES_DIR"] = str(puzzles_dir / "statement-is-a-file.txt")
            (puzzles_dir / "statement-is-a-file.txt").write_text("x")
        resp = post(client, "/mentor/puzzles/web-puzzle/export")
    finally:
        os.chmod(puzzles_dir, 0o755)
    text = page_text(resp)
    assert resp.status_code == 503 and "Could not write the puzzle folder" in text
    assert "must be writable by the web process" in text
    assert str(puzzles_dir) not in resp.get_data(as_text=True)


def test_export_over_a_file_named_like_the_folder_is_a_503_with_the_reason(
        app, client, auth, puzzles_dir, sync, tmp_path):
    """What a read-only or clashing puzzles folder does (systemd's ProtectSystem=strict
    without PUZZLES_DIR in ReadWritePaths): the errno's reason, no path, nothing written.
    Tests run as root, which ignores file modes, so NN-slug is made a regular file."""
    write_puzzle(puzzles_dir)
    sync()
    target = tmp_path / "elsewhere"
    target.mkdir()
    (target / "01-test-puzzle").write_text("not a folder")
    app.config["PUZZLES_DIR"] = str(target)
    login_as(auth, "admin")
    resp = post(client, "/mentor/puzzles/test-puzzle/export")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 503, resp.status_code
    text = page_text(resp)
    assert "Could not write the puzzle folder" in text and "nothing was exported" in text
    import errno
    import os
    reasons = {os.strerror(errno.EEXIST), os.strerror(errno.ENOTDIR)}
    assert any(r in text for r in reasons), text
    assert str(tmp_path) not in html and "elsewhere" not in html
    assert (target / "01-test-puzzle").read_text() == "not a folder"
