"""The torch-free recipe registry: validation messages, defaults, statistic keys."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from puzzle_platform.recipes import RECIPES, RecipeError, get_recipe, recipe_names
from puzzle_platform.recipes.embedding_cosine import SPEC

ROOT = Path(__file__).resolve().parents[2]


def test_registry():
    assert recipe_names() == tuple(sorted(RECIPES)) and RECIPES["embedding_cosine"] is SPEC
    assert {"embedding_cosine", "activation_stats", "attention_heads", "logit_lens", "logit_attribution",
            "ablation", "weight_spectrum", "embedding_neighbors"} <= set(recipe_names())
    with pytest.raises(RecipeError, match=r"unknown recipe 'x'; known: ablation, activation_stats, "):
        get_recipe("x")
    assert SPEC.runner == "puzzle_platform.worker.recipes.embedding_cosine:run"
    assert set(SPEC.param_doc) == {"model", "matrix", "weights", "center", "tokens", "seed",
                                   "diagonal", "bins", "histogram", "histogram_sample",
                                   "device", "revision", "label"}


def test_defaults_and_idempotence():
    params = SPEC.validate_params({"model": "gpt-neo-small"})
    assert params == {"model": "gpt-neo-small", "matrix": "W_E", "weights": "processed",
                      "center": False, "tokens": "all", "seed": 0, "diagonal": False,
                      "bins": 200, "histogram": "exact", "histogram_sample": None,
                      "device": "auto", "revision": None}
    assert SPEC.validate_params(params) == params
    sampled = SPEC.validate_params({"model": "m", "histogram": "sample"})
    assert sampled["histogram_sample"] == 5000 and SPEC.validate_params(sampled) == sampled


@pytest.mark.parametrize("raw, message", [
    ({}, "parameter 'model' is required"),
    ({"model": "m", "colour": 1}, "unknown parameter(s) 'colour'; known: model, matrix"),
    ({"model": ""}, "'model': must be a non-empty one-line string"),
    ({"model": "m", "matrix": "W_Q"}, "'matrix': must be one of 'W_E', 'W_U', 'W_pos'"),
    ({"model": "m", "bins": "200"}, "'bins': must be a whole number, got '200'"),
    ({"model": "m", "bins": True}, "'bins': must be a whole number"),
    ({"model": "m", "bins": 5}, "'bins': must be from 10 to 2000, got 5"),
    ({"model": "m", "bins": 2001}, "'bins': must be from 10 to 2000"),
    ({"model": "m", "center": "yes"}, "'center': must be true or false"),
    ({"model": "m", "tokens": 1}, "'tokens': must be \"all\" or a whole number of tokens >= 2"),
    ({"model": "m", "tokens": "some"}, "'tokens'"),
    ({"model": "m", "seed": -1}, "'seed': must be from 0"),
    ({"model": "m", "histogram_sample": 100}, "histogram_sample is only used with histogram"),
    ({"model": "m", "histogram": "sample", "histogram_sample": 1}, "'histogram_sample': must be >= 2"),
    ({"model": "m", "device": "tpu"}, "'device': must be one of 'auto', 'cpu', 'cuda'"),
    ({"model": "m", "weights": "folded"}, "'weights'"),
])
def test_bad_params_give_one_clear_line(raw, message):
    with pytest.raises(RecipeError) as info:
        SPEC.validate_params(raw)
    text = str(info.value)
    assert message in text and "\n" not in text and text.startswith("embedding_cosine: ")


def test_statistic_keys_depend_on_histogram_mode():
    exact = SPEC.statistic_keys({"model": "m"})
    assert {"n", "d_model", "mean_cos", "std_cos", "mean_cos_with_diag", "std_cos_with_diag",
            "mean_cos_to_mean", "mean_norm", "norm_of_mean", "norm_ratio", "entries_counted",
            "centered_mean_cos", "centered_std_cos", "centered_mean_cos_with_diag",
            "centered_std_cos_with_diag", "centered_mean_cos_to_mean"} <= exact
    assert "sample_mean_cos_stderr" not in exact
    sampled = SPEC.statistic_keys({"model": "m", "histogram": "sample"})
    assert sampled - exact == {"sample_tokens", "sample_mean_cos", "sample_mean_cos_stderr"}
    assert isinstance(exact, frozenset)


def test_web_side_modules_do_not_import_torch():
    code = ("import sys; import puzzle_platform.recipes, puzzle_platform.worker.errors, "
            "puzzle_platform.cli.stats; "
            "bad = [m for m in ('torch', 'transformer_lens', 'transformers', 'plotly') "
            "if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
