"""Export keeps a puzzle.toml's shape: comments, inline tables, key order, multi-line strings
and explicit defaults survive; only what changed is rewritten (content/toml_edit.py)."""
from __future__ import annotations

import difflib
import shutil
import tomllib

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings, strategies as st

from puzzle_platform.content.authoring import PuzzleForm
from puzzle_platform.content.files import load_puzzle
from puzzle_platform.content.writer import dump_toml
from puzzle_platform.extensions import db
from puzzle_platform.models import Puzzle
from tests.helpers import REPO
from tests.test_mentor_authoring import login_as, post

FOLDERS = sorted(p.name for p in (REPO / "puzzles").iterdir() if p.is_dir())


def _copy(puzzles_dir, name):
    shutil.copytree(REPO / "puzzles" / name, puzzles_dir / name)
    return puzzles_dir / name / "puzzle.toml"


def _export(runner, slug):
    result = runner.invoke(args=["puzzles", "export", slug])
    assert result.exit_code == 0, result.output


def _changed_lines(before: str, after: str) -> tuple[list[str], list[str]]:
    diff = list(difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0))
    removed = [d[1:] for d in diff if d.startswith("-") and not d.startswith("---")]
    added = [d[1:] for d in diff if d.startswith("+") and not d.startswith("+++")]
    return removed, added


@pytest.mark.parametrize("name", FOLDERS)
def test_sync_then_export_writes_the_same_bytes(app, runner, puzzles_dir, sync, name):
    path = _copy(puzzles_dir, name)
    before = path.read_bytes()
    sync()
    _export(runner, name.split("-", 1)[1])
    assert path.read_bytes() == before, "\n".join(difflib.unified_diff(
        before.decode().splitlines(), path.read_text().splitlines(), lineterm=""))


def _edit(app, client, slug, change):
    with app.app_context():
        form = PuzzleForm.from_puzzle(db.session.scalar(sa.select(Puzzle).where(Puzzle.slug == slug))).as_dict()
    children = tomllib.loads(form["spec_toml"])
    change(children)
    form["spec_toml"] = dump_toml(children)
    resp = post(client, f"/mentor/puzzles/{slug}/edit", form)
    assert resp.status_code == 303, resp.get_data(as_text=True)[-2000:]
    assert post(client, f"/mentor/puzzles/{slug}/export").status_code == 303


@pytest.mark.parametrize("name", FOLDERS)
def test_web_edit_of_one_prompt_changes_only_its_lines(app, client, auth, puzzles_dir, sync, name):
    """Nothing else is added either: no defaults (mode, max_attempts) the file leaves out."""
    slug = name.split("-", 1)[1]
    path = _copy(puzzles_dir, name)
    before = path.read_text()
    sync()
    login_as(auth, "admin")
    new_prompt = "What is the **mean** cosine, with $\\bar{x}$ in it?\nOn two lines."

    def change(children):
        children["questions"][1]["prompt"] = new_prompt
    _edit(app, client, slug, change)
    after = path.read_text()
    old_prompt = tomllib.loads(before)["questions"][1]["prompt"]
    removed, added = _changed_lines(before, after)
    # Only the prompt's own lines changed: the old ones out, the new ones in.
    assert "\n".join(removed) == f'prompt = """{old_prompt}"""'.replace("\\", "\\\\")
    assert tomllib.loads("\n".join(added)) == {"prompt": new_prompt}  # and nothing else
    assert [line for line in before.splitlines() if line.startswith("#")] == \
        [line for line in after.splitlines() if line.startswith("#")]
    assert load_puzzle(path.parent).questions[1].prompt_md == new_prompt


def test_add_remove_and_reorder_questions_load_back_equal(app, client, auth, puzzles_dir, sync):
    name = FOLDERS[0]
    slug = name.split("-", 1)[1]
    path = _copy(puzzles_dir, name)
    sync()
    login_as(auth, "admin")
    added = {"key": "extra", "prompt": "A new one\nover two lines.", "kind": "numeric", "grader": "abs_tol",
             "grader_params": {"tolerance": 3}, "truth": 7, "mode": "challenge", "points": 2}

    def change(children):
        qs = children["questions"]
        qs.pop(2)                       # removed
        qs.insert(0, qs.pop())          # the explanation first
        qs[1], qs[2] = qs[2], qs[1]      # two swapped
        qs.append(added)                # a new one
        children["figures"].reverse()   # figures reordered
        children["figures"][0]["params"]["bins"] = 50  # and one parameter changed
    _edit(app, client, slug, change)
    text = path.read_text()
    with app.app_context():
        puzzle = db.session.scalar(sa.select(Puzzle).where(Puzzle.slug == slug))
        keys = [q.key for q in puzzle.questions]
        digest = puzzle.source_hash
    spec = load_puzzle(path.parent)
    assert [q.key for q in spec.questions] == keys
    assert keys == ["explain", "neo_cos_to_mean", "neo_mean_cos", "gpt2_mean_cos", "why", "extra"]
    assert [f.key for f in spec.figures] == ["gpt2", "gpt_neo"]
    assert spec.figures[0].params["bins"] == 50
    assert spec.source_hash() == digest
    assert "neo_centered_mean_cos" not in text
    assert "# Both figures use processed weights" in text
    assert 'params = { model = "gpt-neo-small", matrix = "W_E", weights = "processed", center = false' in text
    assert 'prompt = """A new one\nover two lines."""' in text


def test_new_files_use_inline_tables_and_multiline_prompts():
    text = dump_toml({"questions": [{"key": "q", "prompt": "one\ntwo \\bar", "grader_params": {"scale": 0.5}}]})
    assert "grader_params = {scale = 0.5}" in text.replace("{ ", "{").replace(" }", "}")
    assert '"""one\ntwo \\\\bar"""' in text
    assert "[questions.grader_params]" not in text
    assert tomllib.loads(text)["questions"][0]["prompt"] == "one\ntwo \\bar"


PROMPT_TEXT = st.lists(st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=8)
                       | st.sampled_from(['"', "'", "\\", "\n", '"""', "$\\bar{x}$", "#", "= 1"]),
                       min_size=1, max_size=10).map("".join)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(prompts=st.lists(PROMPT_TEXT.filter(lambda s: s.strip()), min_size=1, max_size=3),
       order=st.randoms(use_true_random=False))
def test_any_prompts_and_order_read_back_and_keep_the_comments(tmp_path, prompts, order):
    import dataclasses
    from puzzle_platform.content.writer import puzzle_toml
    folder = tmp_path / FOLDERS[0]
    if not folder.exists():
        shutil.copytree(REPO / "puzzles" / FOLDERS[0], folder)
    old = (folder / "puzzle.toml").read_text()
    spec = load_puzzle(folder)
    questions = list(spec.questions)
    order.shuffle(questions)
    for i, prompt in enumerate(prompts):
        questions[i] = dataclasses.replace(questions[i], prompt_md=prompt.strip())
    target = dataclasses.replace(spec, questions=questions)
    text = puzzle_toml(target, old, folder)
    again = tomllib.loads(text)
    assert [q["key"] for q in again["questions"]] == [q.key for q in questions]
    assert [q["prompt"].strip() for q in again["questions"]] == [q.prompt_md for q in questions]
    assert "# Both figures use processed weights" in text  # edited, not written anew
