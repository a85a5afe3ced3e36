"""Spec of the `attention_heads` recipe: per-head attention scores (previous token, first
token, self, entropy, induction) over the real query positions (torch-free).

keys() must be exact without loading the model, so per-head statistics are published for the
heads the puzzle names in `heads` ("L1.H3"); the summaries (max, argmax, ...) and the figure
cover every head whatever the model's shape.
"""
from __future__ import annotations

import re
from typing import Any, Mapping

from ._inputs import INPUT_PARAMS, MODEL_PARAMS, check_inputs
from ._spec import Param, RecipeSpec

RUNNER = "puzzle_platform.worker.recipes.attention_heads:run"
SCORES = ("prev_token", "first_token", "self", "entropy", "induction")
SUMMARIES = ("max", "argmax_layer", "argmax_head", "min", "argmin_layer", "argmin_head", "mean")
HEAD_RE = re.compile(r"^L(0|[1-9][0-9]{0,3})\.H(0|[1-9][0-9]{0,3})$")


def head_list(value: Any) -> list[str]:
    if not isinstance(value, (list, tuple)) or len(value) > 4096:
        raise ValueError('must be an array of heads such as ["L0.H1", "L1.H3"]')
    for item in value:
        if not isinstance(item, str) or not HEAD_RE.match(item):
            raise ValueError(f'each head is written L<layer>.H<head>, e.g. "L1.H3"; got {item!r}'[:160])
    return list(dict.fromkeys(value))


def head_of(name: str) -> tuple[int, int]:
    layer, head = name[1:].split(".H")
    return int(layer), int(head)


def scores(params: Mapping[str, Any]) -> tuple[str, ...]:
    """The scores a run computes: induction only on repeated random tokens."""
    rt = params.get("random_tokens")
    return SCORES if rt and rt.get("repeat") else SCORES[:-1]


def _keys(params: dict) -> frozenset[str]:
    keys = {"n_layers", "n_heads", "query_positions"}
    if "induction" in scores(params):
        keys.add("induction_positions")
    for score in scores(params):
        keys |= {f"{score}.{s}" for s in SUMMARIES}
        keys |= {f"{head}.{score}" for head in params["heads"]}
    return frozenset(keys)


def _check(params: dict, raw: Mapping[str, Any]) -> None:
    check_inputs(params, raw)
    params["heads"] = list(params["heads"])  # the default is a shared tuple; stored as JSON


STATISTICS = (
    ("L{l}.H{h}.prev_token", "mean of A[q, q-1] over every real query position q >= 1 of every "
                             "sequence (pooled: each position weighs the same)"),
    ("L{l}.H{h}.first_token", "mean of A[q, 0] over the same query positions"),
    ("L{l}.H{h}.self", "mean of A[q, q] over the same query positions"),
    ("L{l}.H{h}.entropy", "mean of -sum_k A[q, k] ln A[q, k] (nats; 0 ln 0 = 0) over the same "
                          "query positions"),
    ("L{l}.H{h}.induction", "random_tokens with repeat = true only: mean of A[q, q - length + 1] "
                            "over the query positions q of the second copy (length + b .. "
                            "2 length - 1 + b, b = 1 with prepend_bos else 0): attention to the "
                            "token after the previous occurrence of the current token"),
    ("<score>.max / .argmax_layer / .argmax_head", "largest per-head score and its head (the "
                                                   "first in layer, then head order on ties)"),
    ("<score>.min / .argmin_layer / .argmin_head", "smallest per-head score and its head"),
    ("<score>.mean", "mean of the score over all heads"),
    ("n_layers, n_heads", "the model's layers and heads per layer"),
    ("query_positions", "query positions counted per head (real positions q >= 1)"),
    ("induction_positions", "query positions counted per head for induction"),
)

SPEC = RecipeSpec(
    name="attention_heads",
    description="Per-head attention scores over the real tokens of the inputs: previous-token, "
                "first-token, self, entropy and (on repeated random tokens) induction, with "
                "layer x head heatmaps.",
    params=(*MODEL_PARAMS, *INPUT_PARAMS,
            Param("heads", 'heads whose scores are statistics, e.g. ["L1.H3"] (statistics '
                           "L1.H3.prev_token, ...); the summaries and the figure cover every head",
                  head_list, ())),
    runner=RUNNER,
    check=_check,
    keys=_keys,
    statistics=STATISTICS,
    figure="one layer x head heatmap per score (plotly subplots), caption with the conventions",
)
