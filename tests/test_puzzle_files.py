"""`manage.py puzzles sync|list`: idempotent, reports changes, refuses bad files whole."""
import shutil

import pytest
import sqlalchemy as sa

from puzzle_platform.extensions import db
from puzzle_platform.models import Puzzle, Question
from tests.helpers import MEAN_QUESTION_TOML, REPO, write_puzzle

Q = """
[[questions]]
key = "mean"
prompt = "p"
grader = "interval"
grader_params = {params}
statistic = "{stat}"
"""


def _snapshot(app):
    with app.app_context():
        return [(p.slug, p.title, [(q.key, q.grader_params) for q in p.questions])
                for p in db.session.scalars(sa.select(Puzzle).order_by(Puzzle.number))]


def test_sync_is_idempotent_and_reports_changes(app, runner, puzzles_dir):
    folder = write_puzzle(puzzles_dir)
    first = runner.invoke(args=["puzzles", "sync"])
    assert first.exit_code == 0 and "+ 01-test-puzzle: created" in first.output
    assert "+ question mean" in first.output
    again = runner.invoke(args=["puzzles", "sync"])
    assert again.exit_code == 0 and "unchanged" in again.output
    text = (folder / "puzzle.toml").read_text().replace('title = "Test puzzle"', 'title = "Renamed"')
    (folder / "puzzle.toml").write_text(text)
    third = runner.invoke(args=["puzzles", "sync"])
    assert "updated title" in third.output
    assert _snapshot(app)[0][1] == "Renamed"


@pytest.mark.parametrize("mutate, reason", [
    (lambda t: t.replace('grader = "interval"', 'grader = "nope"'), "unknown grader 'nope'"),
    (lambda t: t.replace("scale = 0.5", "scale = -1"), "scale"),
    (lambda t: t.replace("scale = 0.5", "scale = 0.5, bogus = 1"), "bogus"),
    (lambda t: t.replace('recipe = "embedding_cosine"', 'recipe = "nope"'), "unknown recipe 'nope'"),
    (lambda t: t.replace('weights = "raw"', 'weights = "cooked"'), "weights"),
    (lambda t: t.replace('"fig.mean_cos"', '"fig.median"'), "does not produce 'median'"),
    (lambda t: t.replace('"fig.mean_cos"', '"other.mean_cos"'), "names no figure"),
    (lambda t: t.replace("max_attempts = 3", "max_attempts = 0"), "max_attempts"),
    (lambda t: t.replace("points = 10", "points = -1"), "points"),
    (lambda t: t.replace('kind = "numeric"', 'kind = "essay"'), "kind must be one of"),
    (lambda t: t.replace("reveal_at", "reveal_typo"), "unknown field(s) reveal_typo"),
    (lambda t: t + "\n[[questions]]\n", "key is required"),
    (lambda t: t + "\n[[questions]]\nkey = \"x\"\n", "prompt is required"),
    (lambda t: t.replace("Z\"\ndeadline", "\"\ndeadline"), "no UTC offset"),
    (lambda t: t + "this is = = not toml", "not valid TOML"),
    # what each mode allows
    (lambda t: t.replace('kind = "numeric"', 'kind = "numeric"\nmode = "quiz"'), "mode must be one of"),
    (lambda t: t.replace('kind = "numeric"', 'kind = "numeric"\nmode = "challenge"'),
     "the interval grader's score is continuous"),
    (lambda t: t.replace('kind = "numeric"', 'kind = "numeric"\nmode = "challenge"')
     .replace('grader = "interval"', 'grader = "abs_tol"')
     .replace("scale = 0.5", "tolerance = 0.1, partial_until = 0.3"), "partial_until (partial credit) is only for forecasts"),
    (lambda t: t.replace("scale = 0.5", "scale = 0.5, hint = true"), "a forecast gets no feedback before the reveal"),
    (lambda t: t + '\n[[questions]]\nkey = "pick"\nprompt = "?"\nkind = "choice"\nmode = "forecast"\n'
               'grader = "choice"\nchoices = ["a", "b"]\ntruth = "a"\n', "choice questions are challenges"),
    (lambda t: t + '\n[[questions]]\nkey = "probe"\nprompt = "?"\nkind = "numeric"\nmode = "challenge"\n'
               'grader = "abs_tol"\ngrader_params = { tolerance = 0.01, hint = true }\nstatistic = "fig.std_cos"\n',
     "a challenge cannot read figure 'fig', which the forecast 'mean' reads"),
])
def test_invalid_file_is_refused_and_nothing_changes(app, runner, puzzles_dir, mutate, reason):
    write_puzzle(puzzles_dir, number=1, slug="good")
    assert runner.invoke(args=["puzzles", "sync"]).exit_code == 0
    before = _snapshot(app)
    bad = write_puzzle(puzzles_dir, number=2, slug="bad")
    # also change the good one: it must not be applied either (all or nothing)
    good = puzzles_dir / "01-good" / "puzzle.toml"
    good.write_text(good.read_text().replace('title = "Test puzzle"', 'title = "Changed"'))
    (bad / "puzzle.toml").write_text(mutate((bad / "puzzle.toml").read_text()))
    result = runner.invoke(args=["puzzles", "sync"])
    assert result.exit_code != 0
    assert "02-bad" in result.output and reason in result.output, result.output
    assert "nothing was changed" in result.output
    assert _snapshot(app) == before


def test_schedule_out_of_order_is_refused(runner, puzzles_dir):
    folder = write_puzzle(puzzles_dir)
    text = (folder / "puzzle.toml").read_text().splitlines()
    rel, dead = text[1], text[2]
    text[1], text[2] = "release_at" + dead[len("deadline_at"):], "deadline_at" + rel[len("release_at"):]
    (folder / "puzzle.toml").write_text("\n".join(text))
    result = runner.invoke(args=["puzzles", "sync"])
    assert result.exit_code != 0 and "release_at <= deadline_at <= reveal_at" in result.output


def test_question_with_attempts_is_not_deleted(app, runner, puzzles_dir, auth, client):
    from tests.helpers import csrf_token
    folder = write_puzzle(puzzles_dir)
    runner.invoke(args=["puzzles", "sync"])
    auth.register("sam")
    client.post("/puzzles/test-puzzle/questions/mean", data={"csrf_token": csrf_token(client), "value": "0.3"})
    text = (folder / "puzzle.toml").read_text()
    (folder / "puzzle.toml").write_text(text.replace('key = "mean"', 'key = "renamed"'))
    result = runner.invoke(args=["puzzles", "sync"])
    assert result.exit_code != 0 and "has 1 attempt(s) and cannot be removed" in result.output
    with app.app_context():
        assert [q.key for q in db.session.scalars(sa.select(Question))] == ["mean"]


def test_changed_grader_params_regrade_with_a_log(app, runner, puzzles_dir, auth, client):
    from puzzle_platform.models import GradeChange, Submission
    from tests.helpers import add_artifact, after_reveal, csrf_token
    folder = write_puzzle(puzzles_dir)
    runner.invoke(args=["puzzles", "sync"])
    add_artifact(app, "test-puzzle", "fig", {"mean_cos": 0.5})
    auth.register("sam")
    client.post("/puzzles/test-puzzle/questions/mean", data={"csrf_token": csrf_token(client), "value": "0.6"})
    with after_reveal():  # a forecast: scored at the reveal, then regraded by the edit
        client.get("/leaderboard")
        with app.app_context():
            before = db.session.scalar(sa.select(Submission.points))
        (folder / "puzzle.toml").write_text((folder / "puzzle.toml").read_text().replace("scale = 0.5", "scale = 1.0"))
        result = runner.invoke(args=["puzzles", "sync"])
        assert "regraded 1 attempt(s) of mean" in result.output
        with app.app_context():
            after = db.session.scalar(sa.select(Submission.points))
            change = db.session.scalar(sa.select(GradeChange).order_by(GradeChange.id.desc()))
            assert after > before and change.old_points == before and change.new_points == after
        assert "definition changed" in change.reason


def test_shipped_puzzles_load_and_list(app, runner, tmp_path):
    shutil.copytree(REPO / "puzzles", tmp_path / "shipped")
    result = runner.invoke(args=["puzzles", "sync", "--dir", str(tmp_path / "shipped")])
    assert result.exit_code == 0, result.output
    listing = runner.invoke(args=["puzzles", "list"]).output
    assert "suspiciously-similar-embeddings" in listing
    for key in ("neo_mean_cos", "neo_cos_to_mean", "neo_centered_mean_cos", "gpt2_mean_cos"):
        assert key in listing
    with app.app_context():
        stats = {q.key: q.statistic for q in db.session.scalars(sa.select(Question))}
    assert stats["neo_mean_cos"] == "gpt_neo.mean_cos"
    assert stats["neo_centered_mean_cos"] == "gpt_neo.centered_mean_cos"
    assert stats["gpt2_mean_cos"] == "gpt2.mean_cos"
    # puzzle 2 (attention_heads) and puzzle 3 (ablation, prompts read from prompts.txt)
    assert stats["induction_max"] == "heads.induction.max"
    assert stats["prev_token_4_11"] == "heads.L4.H11.prev_token"
    assert stats["zero_mlp0"] == "zero.L0.mlp.delta" and stats["mean_mlp0"] == "mean.L0.mlp.delta"
    with app.app_context():
        from puzzle_platform.models import Figure
        zero = db.session.scalar(sa.select(Figure).where(Figure.key == "zero"))
        assert len(zero.params["prompts"]) == 30 and zero.params["prompts_file"] == "prompts.txt"


@pytest.mark.parametrize("field", ["title", "summary"])
def test_title_and_summary_with_a_control_character_are_refused(app, runner, puzzles_dir, field):
    folder = write_puzzle(puzzles_dir)
    toml = folder / "puzzle.toml"
    text = toml.read_text()
    line = 'title = "Estimating \\bar{x}"' if field == "title" else 'summary = "About \\frac{a}{b}"'
    toml.write_text(text.replace('title = "Test puzzle"', line) if field == "title" else line + "\n" + text)
    result = runner.invoke(args=["puzzles", "sync"])
    assert result.exit_code != 0 and f"{field} contains a control character" in result.output
    assert 'write "\\\\' in result.output, result.output
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Puzzle)) == 0


def test_line_breaks_in_strings_are_not_taken_for_escapes(app, runner, puzzles_dir):
    prompt = "The heat equation\n$$\nu_t = \\alpha u_{xx}\n$$\n"
    for quoted in ("'''" + prompt + "'''", '"""' + prompt.replace("\\", "\\\\") + '"""'):
        write_puzzle(puzzles_dir, questions=MEAN_QUESTION_TOML.replace('"Predict the mean cosine."', quoted))
        result = runner.invoke(args=["puzzles", "sync"])
        assert result.exit_code == 0, result.output
        with app.app_context():
            assert db.session.scalar(sa.select(Question.prompt_md)) == prompt.strip()
