"""Activation recipes in puzzle folders: a prompts_file is read at sync and stored inline, a
question may name the figure's statistics, the web form refuses prompts_file, and a file
outside the folder is refused at sync with one line."""
from __future__ import annotations

import sqlalchemy as sa

from puzzle_platform.extensions import db
from puzzle_platform.models import Figure, Puzzle
from tests.helpers import figure_toml, question_toml, write_puzzle
from tests.test_mentor_authoring import login_as, page_text, post, puzzle_form

PROMPTS = ["the cat sat on the mat", "a dog is big"]


def acts_figure(model, **params) -> str:
    return figure_toml("acts", "Activations", recipe="activation_stats", model=str(model),
                       weights="raw", hook="blocks.0.hook_resid_post", **params)


def heads_figure(model, **params) -> str:
    return figure_toml("heads", "Heads", recipe="attention_heads", model=str(model), weights="raw",
                       heads=["L1.H3"], **params)


def questions() -> str:
    return (question_toml("q50", "Median?", kind="numeric", grader="interval",
                          grader_params={"scale": 0.5}, statistic="acts.q50")
            + question_toml("prev", "Previous-token score?", kind="numeric", grader="interval",
                            grader_params={"scale": 0.5}, statistic="heads.L1.H3.prev_token")
            + question_toml("top", "Which layer?", kind="numeric", grader="interval",
                            grader_params={"scale": 1.0}, statistic="heads.prev_token.argmax_layer"))


def test_prompts_file_is_stored_inline_and_questions_name_statistics(app, puzzles_dir, sync, tiny_text_model_dirs):
    model = tiny_text_model_dirs["text_gpt2"]
    folder = write_puzzle(puzzles_dir, figures=acts_figure(model, prompts_file="prompts.txt")
                          + heads_figure(model, prompts_file="prompts.jsonl"), questions=questions())
    (folder / "prompts.txt").write_text("\n".join(PROMPTS) + "\n\n")
    (folder / "prompts.jsonl").write_text("".join(f'{{"text": "{p}"}}\n' for p in reversed(PROMPTS)))
    sync()
    (folder / "prompts.txt").unlink()  # the worker never reads the folder: the prompts are inline
    with app.app_context():
        puzzle = db.session.scalar(sa.select(Puzzle))
        figures = {f.key: f for f in db.session.scalars(sa.select(Figure).where(Figure.puzzle_id == puzzle.id))}
        assert figures["acts"].params["prompts"] == PROMPTS
        assert figures["acts"].params["prompts_file"] == "prompts.txt"
        assert figures["heads"].params["prompts"] == PROMPTS[::-1]
        assert sorted(q.statistic for q in puzzle.questions) == [
            "acts.q50", "heads.L1.H3.prev_token", "heads.prev_token.argmax_layer"]


def test_question_on_an_unlisted_head_is_refused(runner, puzzles_dir, tiny_text_model_dirs):
    model = tiny_text_model_dirs["text_gpt2"]
    write_puzzle(puzzles_dir, figures=heads_figure(model, prompts=PROMPTS), questions=question_toml(
        "prev", "?", kind="numeric", grader="interval", grader_params={"scale": 0.5},
        statistic="heads.L0.H0.prev_token"))
    result = runner.invoke(args=["puzzles", "sync"])
    assert result.exit_code != 0 and "does not produce 'L0.H0.prev_token'" in result.output


def test_prompts_file_outside_the_folder_is_refused_in_one_line(runner, puzzles_dir, tiny_text_model_dirs):
    folder = write_puzzle(puzzles_dir, figures=acts_figure(tiny_text_model_dirs["text_gpt2"],
                                                           prompts_file="../x"),
                          questions=questions().split("[[questions]]")[0] + "[[questions]]"
                          + questions().split("[[questions]]")[1])
    (folder.parent / "x").write_text("the cat\n")
    result = runner.invoke(args=["puzzles", "sync"])
    assert result.exit_code != 0
    lines = [line for line in result.output.splitlines() if "prompts_file" in line]
    assert len(lines) == 1 and "prompts_file '../x' must be a file inside the puzzle folder" in lines[0]


def test_web_form_refuses_prompts_file(app, client, auth, tiny_text_model_dirs):
    login_as(auth, "mentor")
    spec = acts_figure(tiny_text_model_dirs["text_gpt2"], prompts_file="prompts.txt") + question_toml(
        "q50", "Median?", kind="numeric", grader="interval", grader_params={"scale": 0.5},
        statistic="acts.q50")
    resp = post(client, "/mentor/puzzles/new", puzzle_form(spec_toml=spec))
    assert resp.status_code == 400
    assert "prompts_file is read from a puzzle folder (manage.py puzzles sync)" in page_text(resp)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Puzzle)) == 0


def test_prompts_and_a_prompts_file_together_are_refused_at_sync(runner, puzzles_dir):
    from tests.helpers import figure_toml, question_toml, write_puzzle

    folder = write_puzzle(puzzles_dir, figures=figure_toml(
        key="acts", recipe="activation_stats", model="gpt2-small", hook="blocks.0.hook_resid_post",
        prompts=["the cat"], prompts_file="prompts.txt"),
        questions=question_toml(key="q", prompt="p", statistic="acts.mean", grader="interval",
                                grader_params={"scale": 1.0}, mode="forecast"))
    (folder / "prompts.txt").write_text("a dog\n")
    result = runner.invoke(args=["puzzles", "sync"])
    assert result.exit_code != 0 and "give prompts or prompts_file, not both" in result.output
