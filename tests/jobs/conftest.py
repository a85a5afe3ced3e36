"""Fixtures for job tests: a puzzle whose figures are computed on tiny local models."""
from __future__ import annotations

import pytest

from tests.helpers import figure_toml, question_toml, write_puzzle


def figure_puzzle(puzzles_dir, models: dict, *, neo_model: str | None = None, state: str = "live"):
    figures = "".join(figure_toml(key, title, model=model, weights="raw", device="cpu", bins=50)
                      for key, title, model in (("gpt_neo", "Tiny GPT-Neo", neo_model or models["gpt_neo"]),
                                                ("gpt2", "Tiny GPT-2", models["gpt2"])))
    # Challenges (all or nothing, graded as soon as the truth exists) so that a pending attempt
    # is graded when the job delivers; a forecast would wait for the reveal.
    questions = "".join(question_toml(key, f"Predict {stat}.", mode="challenge", grader="abs_tol",
                                      grader_params={"tolerance": 1.0}, statistic=stat, max_attempts=2)
                        for key, stat in (("neo_mean", "gpt_neo.mean_cos"),
                                          ("neo_to_mean", "gpt_neo.mean_cos_to_mean"),
                                          ("neo_centered", "gpt_neo.centered_mean_cos"),
                                          ("gpt2_mean", "gpt2.mean_cos")))
    return write_puzzle(puzzles_dir, slug="embeddings", figures=figures, questions=questions, state=state)


@pytest.fixture
def embeddings_puzzle(puzzles_dir, tiny_model_dirs, sync):
    folder = figure_puzzle(puzzles_dir, tiny_model_dirs)
    sync()
    return folder
