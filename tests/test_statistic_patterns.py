"""Per-layer statistic names of a model whose shape is not known on the web host (a hub model
not in its cache) are accepted at load by their pattern; a known shape checks them exactly."""
import pytest

from tests.helpers import question_toml, write_puzzle


def _lens_puzzle(puzzles_dir, model: str, statistic: str) -> None:
    figure = f'''
[[figures]]
key = "lens"
recipe = "logit_lens"
params = {{ model = "{model}", prompts = ["the capital of france is"], targets = ["paris"] }}
'''
    write_puzzle(puzzles_dir, figures=figure,
                 questions=question_toml(key="q", prompt="How likely?", statistic=f"lens.{statistic}", grader="abs_tol",
                                         grader_params={"tolerance": 0.1}, mode="forecast"))


@pytest.mark.parametrize("statistic", ["L7.prob", "L12.rank", "first_top1_layer"])
def test_hub_model_of_unknown_shape_accepts_well_formed_layer_names(runner, puzzles_dir, statistic):
    _lens_puzzle(puzzles_dir, "gpt2-small", statistic)
    result = runner.invoke(args=["puzzles", "sync"])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("statistic", ["L7.probability", "Lx.prob", "layer7.prob"])
def test_malformed_names_are_refused_even_when_the_shape_is_unknown(runner, puzzles_dir, statistic):
    _lens_puzzle(puzzles_dir, "gpt2-small", statistic)
    result = runner.invoke(args=["puzzles", "sync"])
    assert result.exit_code != 0 and "does not produce" in result.output


def test_a_known_shape_checks_layer_names_exactly(runner, puzzles_dir, tiny_text_model_dirs):
    model = str(tiny_text_model_dirs["text_gpt2"])  # 2 layers: L0..L2 exist, L3 does not
    _lens_puzzle(puzzles_dir, model, "L2.prob")
    assert runner.invoke(args=["puzzles", "sync"]).exit_code == 0
    _lens_puzzle(puzzles_dir, model, "L3.prob")
    result = runner.invoke(args=["puzzles", "sync"])
    assert result.exit_code != 0 and "does not produce 'L3.prob'" in result.output
