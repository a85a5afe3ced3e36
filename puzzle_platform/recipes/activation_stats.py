"""Spec of the `activation_stats` recipe: exact statistics of one TransformerLens hook's values
over the real (unpadded) positions of the inputs (torch-free).

The hook name is checked for syntax here (no model is loaded in the web process) and against
the model's own hooks when the worker runs it, with a one-line error naming close hooks.
"""
from __future__ import annotations

import re
from typing import Any

from ._inputs import INPUT_PARAMS, MODEL_PARAMS, check_inputs
from ._spec import Param, RecipeSpec, integer, optional

RUNNER = "puzzle_platform.worker.recipes.activation_stats:run"
HOOK_RE = re.compile(r"^(?:[a-z0-9_]+\.)*hook_[a-z0-9_]+$")
KEYS = ("count", "mean", "std", "min", "max", "q01", "q50", "q99", "frac_positive", "mean_norm")
QUANTILES = {"q01": 1, "q50": 50, "q99": 99}  # percent


def hook_name(value: Any) -> str:
    if not isinstance(value, str) or len(value) > 120 or not HOOK_RE.match(value):
        raise ValueError("must be a TransformerLens hook name such as blocks.0.hook_resid_post, "
                         f"blocks.1.mlp.hook_post or blocks.0.attn.hook_pattern, got {value!r}"[:200])
    return value


STATISTICS = (
    ("count", "number of values counted (see the counting convention in the README)"),
    ("mean", "mean of the values (float64 accumulation)"),
    ("std", "population standard deviation of the values (divides by count)"),
    ("min", "smallest value"),
    ("max", "largest value"),
    ("q01", "the value of rank ceil(count/100) in ascending order, ranks from 1 "
            "(numpy's quantile method=\"inverted_cdf\"), exact"),
    ("q50", "the value of rank ceil(count/2), exact (the lower median)"),
    ("q99", "the value of rank ceil(99*count/100), exact"),
    ("frac_positive", "fraction of the values > 0 (strictly)"),
    ("mean_norm", "mean over rows of the L2 norm of the row's counted values along the last "
                  "dimension (a row: one position, or one position and head, or one query row "
                  "of a head's pattern)"),
)

SPEC = RecipeSpec(
    name="activation_stats",
    description="Exact statistics (mean, std, min, max, exact quantiles, fraction positive, "
                "mean norm) of one hook's activations over the real tokens of the inputs, and "
                "their histogram.",
    params=(*MODEL_PARAMS, *INPUT_PARAMS,
            Param("hook", "TransformerLens hook name, e.g. blocks.0.hook_resid_post, "
                          "blocks.1.mlp.hook_post, blocks.0.attn.hook_pattern", hook_name),
            Param("index", "optional: a neuron (last-dimension index) of a [batch, pos, d] hook, "
                           "or a head of a hook with a head axis (hook_z, hook_pattern, ...)",
                  optional(integer(0, 1_000_000)), None),
            Param("bins", "histogram bins between min and max", integer(2, 2000), 100)),
    runner=RUNNER,
    check=lambda params, raw: check_inputs(params, raw),
    keys=lambda params: frozenset(KEYS),
    statistics=STATISTICS,
    figure="histogram of the counted values, fixed edges from min to max, caption with hook, "
           "index, model, weights and inputs",
)
