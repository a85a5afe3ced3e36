"""Export: a puzzle (web-authored or from files) -> puzzles/NN-slug/ -> `puzzles sync` says
"unchanged", and the written files mean exactly what the originals meant."""
from __future__ import annotations

import dataclasses
import textwrap
import tomllib

import pytest
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
    # mode and max_attempts only where they are not what the loader fills in
    assert [(q.get("mode"), q.get("max_attempts")) for q in table["questions"]] == \
        [(None, 2), (None, 1), (None, None), (None, None)]
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


# --- puzzles whose figures read a prompts_file (puzzle 3) -----------------------------------

PUZZLE_3 = next(p for p in sorted((REPO / "puzzles").iterdir()) if p.name.startswith("03-"))


def _file_prompts(path) -> list[str]:
    return [line for line in path.read_text().splitlines() if line.strip()]


def _duplicate_3(client, auth, puzzles_dir, sync) -> None:
    import shutil
    shutil.copytree(PUZZLE_3, puzzles_dir / PUZZLE_3.name)
    sync()
    login_as(auth, "admin")  # exporting writes to the server: admins only
    resp = post(client, f"/mentor/puzzles/{PUZZLE_3.name[3:]}/duplicate",
                {"number": "4", "slug": "zero-4", "shift_days": "7"})
    assert resp.status_code == 303, page_text(resp)[:800]


def test_duplicate_of_a_prompts_file_puzzle_exports_its_file_and_syncs_unchanged(
        app, client, auth, runner, puzzles_dir, sync):
    _duplicate_3(client, auth, puzzles_dir, sync)
    resp = post(client, "/mentor/puzzles/zero-4/export")
    assert resp.status_code == 303, page_text(resp)[:800]
    folder = puzzles_dir / "04-zero-4"
    assert sorted(p.name for p in folder.iterdir()) == ["answer.md", "prompts.txt", "puzzle.toml", "statement.md"]
    assert _file_prompts(folder / "prompts.txt") == _file_prompts(PUZZLE_3 / "prompts.txt")
    table = tomllib.loads((folder / "puzzle.toml").read_text())
    # as the original folder says it: the file's name, not its prompts
    assert [f["params"].get("prompts_file") for f in table["figures"]] == ["prompts.txt", "prompts.txt"]
    assert all("prompts" not in f["params"] for f in table["figures"])
    original = load_puzzle(PUZZLE_3)
    assert [f.params for f in load_puzzle(folder).figures] == [f.params for f in original.figures]
    result = runner.invoke(args=["puzzles", "sync"])
    assert result.exit_code == 0, result.output
    assert sorted(result.stdout.split("\n")[:2]) == [f"= {PUZZLE_3.name}: unchanged", "= 04-zero-4: unchanged"]
    assert not [p.name for p in puzzles_dir.iterdir() if p.name.startswith(".")]  # no staging left


def _edit_prompts(app, client, slug: str, prompts: list[str], prompts_file: str = "prompts.txt") -> None:
    from puzzle_platform.content.authoring import PuzzleForm
    from puzzle_platform.content.writer import dump_toml
    with app.app_context():
        form = PuzzleForm.from_puzzle(db.session.scalar(sa.select(Puzzle).where(Puzzle.slug == slug))).as_dict()
    children = tomllib.loads(form["spec_toml"])
    for figure in children["figures"]:
        figure["params"].update(prompts=prompts, prompts_file=prompts_file)
    form["spec_toml"] = dump_toml(children)
    resp = post(client, f"/mentor/puzzles/{slug}/edit", form)
    assert resp.status_code == 303, page_text(resp)[-1500:]


def test_prompts_edited_on_the_web_are_exported_into_the_prompts_file(app, client, auth, runner, puzzles_dir, sync):
    _duplicate_3(client, auth, puzzles_dir, sync)
    prompts = ["One sentence, with \\bar and 'quotes'.", "  Another, spaces kept  ", "Ünïcode — fine"]
    _edit_prompts(app, client, "zero-4", prompts)
    assert post(client, "/mentor/puzzles/zero-4/export").status_code == 303
    assert (puzzles_dir / "04-zero-4" / "prompts.txt").read_text() == "".join(p + "\n" for p in prompts)
    assert (PUZZLE_3 / "prompts.txt").read_text() == (puzzles_dir / PUZZLE_3.name / "prompts.txt").read_text()
    result = runner.invoke(args=["puzzles", "sync"])
    assert result.exit_code == 0 and "= 04-zero-4: unchanged" in result.output, result.output


@pytest.mark.parametrize("prompts, prompts_file, reason", [
    (["one line\nand another"], "prompts.txt", "holds a line break"),
    (["fine"], "../escaped.txt", "must be a file inside the puzzle folder"),
    (["fine"], "statement.md", "one of the puzzle's own files"),
])
def test_a_prompts_file_that_cannot_be_written_is_refused_and_nothing_is_left(
        app, client, auth, puzzles_dir, sync, prompts, prompts_file, reason):
    _duplicate_3(client, auth, puzzles_dir, sync)
    _edit_prompts(app, client, "zero-4", prompts, prompts_file)
    before = sorted(p.name for p in puzzles_dir.iterdir())
    resp = post(client, "/mentor/puzzles/zero-4/export")
    assert resp.status_code == 409, resp.status_code
    assert reason in page_text(resp) and str(puzzles_dir) not in resp.get_data(as_text=True)
    assert sorted(p.name for p in puzzles_dir.iterdir()) == before  # no folder, no staging left
    assert not (puzzles_dir.parent / "escaped.txt").exists()


def test_a_folder_that_would_not_load_back_is_never_left_behind(app, client, auth, puzzles_dir,
                                                                sync, monkeypatch):
    """All or nothing: a new folder is not created, an existing one is not changed."""
    from puzzle_platform.content import writer
    from puzzle_platform.content.files import PuzzleFileError

    def broken(folder):
        raise PuzzleFileError(folder / "puzzle.toml", "figure 'zero': something is off")
    _duplicate_3(client, auth, puzzles_dir, sync)
    existing = puzzles_dir / PUZZLE_3.name
    snapshot = {p.name: p.read_bytes() for p in existing.iterdir()}
    _edit_prompts(app, client, PUZZLE_3.name[3:], ["A changed prompt."])
    monkeypatch.setattr(writer, "load_puzzle", broken)
    for slug in ("zero-4", PUZZLE_3.name[3:]):
        resp = post(client, f"/mentor/puzzles/{slug}/export")
        text = page_text(resp)
        assert resp.status_code == 409, resp.status_code
        assert "would not load back (figure 'zero': something is off)" in text
        assert str(puzzles_dir) not in resp.get_data(as_text=True)
    assert sorted(p.name for p in puzzles_dir.iterdir()) == [PUZZLE_3.name]
    assert {p.name: p.read_bytes() for p in existing.iterdir()} == snapshot


def test_a_writer_bug_fails_loudly_and_leaves_nothing(app, tmp_path, monkeypatch):
    import dataclasses
    from puzzle_platform.content import writer
    spec = load_puzzle(PUZZLE_3)
    other = dataclasses.replace(spec, title="Another title")
    monkeypatch.setattr(writer, "load_puzzle", lambda folder: other)
    root = tmp_path / "out"
    with pytest.raises(writer.ExportMismatch):
        writer.write_puzzle_folder(spec, root)
    assert list(root.iterdir()) == []
