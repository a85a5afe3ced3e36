"""A figure that plots the statistics a question asks for is held back from scholars, the
API and anonymous visitors until the reveal (its caption and provenance too); mentors see it;
embedding_cosine's histogram (a distribution, not its statistics) stays visible."""
from __future__ import annotations

from tests.helpers import add_artifact, after_reveal, figure_toml, issue_token, question_toml, write_puzzle

SECRET = 0.123456789


def _ablation_puzzle(puzzles_dir, sync, figures: str | None = None) -> None:
    figures = figures or figure_toml(key="abl", recipe="ablation", model="gpt2-small", prompts=["a b c"],
                                     components=["L0.mlp"], method="zero")
    write_puzzle(puzzles_dir, figures=figures,
                 questions=question_toml(key="q", prompt="How much?", statistic="abl.delta", grader="interval",
                                         grader_params={"scale": 1.0}, mode="forecast"))
    sync()


def _store(app, key: str = "abl") -> None:
    add_artifact(app, "test-puzzle", key, {"loss_clean": 4.0, "positions": 2, "delta": SECRET,
                                           "L0.mlp.loss_ablated": 4.1, "L0.mlp.delta": SECRET},
                 figure={"data": [{"type": "bar", "x": ["L0.mlp"], "y": [SECRET]}],
                         "layout": {"title": {"text": f"delta {SECRET}"}}})


def _everything(client, token: str | None) -> str:
    pages = [client.get(u).get_data(as_text=True) for u in ("/puzzles/test-puzzle", "/puzzles/test-puzzle/progress.json")]
    if token:
        pages.append(client.get("/api/v1/puzzles/test-puzzle", headers={"Authorization": f"Bearer {token}"})
                     .get_data(as_text=True))
    return "".join(pages)


def test_a_figure_showing_the_truth_is_sealed_until_the_reveal(app, client, auth, puzzles_dir, sync):
    _ablation_puzzle(puzzles_dir, sync)
    _store(app)
    assert str(SECRET) not in _everything(client, None)
    token = issue_token(app, "sam")
    auth.login("sam")
    text = _everything(client, token)
    assert str(SECRET) not in text and "12345" not in text
    assert "shown with the answers at the reveal" in text and '"sealed_until_reveal": true' in text.replace(
        '"sealed_until_reveal":true', '"sealed_until_reveal": true')
    with after_reveal():
        assert str(SECRET) in _everything(client, token)


def test_mentors_see_it_and_their_scholar_preview_does_not(app, client, auth, puzzles_dir, sync):
    _ablation_puzzle(puzzles_dir, sync)
    _store(app)
    auth.create_user("mentor1", role="mentor")
    auth.login("mentor1")
    assert str(SECRET) in client.get("/puzzles/test-puzzle").get_data(as_text=True)
    assert str(SECRET) not in client.get("/mentor/puzzles/test-puzzle/preview").get_data(as_text=True)


def test_figures_no_question_reads_and_cosine_histograms_stay_visible(app, client, auth, puzzles_dir, sync):
    figures = (figure_toml(key="abl", recipe="ablation", model="gpt2-small", prompts=["a b c"],
                           components=["L0.mlp"], method="zero")
               + figure_toml(key="other", recipe="ablation", model="gpt2-small", prompts=["a b c"],
                             components=["L0.mlp"], method="mean")
               + figure_toml(key="cos", model="gpt2-small"))
    write_puzzle(puzzles_dir, figures=figures, questions=question_toml(
        key="q", prompt="How much?", statistic="cos.mean_cos", grader="interval", grader_params={"scale": 1.0},
        mode="forecast"))
    sync()
    for key in ("other", "cos"):
        add_artifact(app, "test-puzzle", key, {"mean_cos": 0.5}, figure={
            "data": [{"type": "bar", "x": [key], "y": [7.654321]}], "layout": {}})
    auth.register("sam")
    page = client.get("/puzzles/test-puzzle").get_data(as_text=True)
    assert page.count("7.654321") == 2
