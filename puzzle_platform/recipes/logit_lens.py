"""Spec of the `logit_lens` recipe: how early in the residual stream a model "knows" a target
token, read through the final norm and unembedding at every layer of each prompt's last token.

Targets are strings (one per prompt) so that puzzle files stay readable; whether each is one
token is known only to the model's tokenizer, so that check is the worker's.
"""
from __future__ import annotations

from typing import Any, Mapping

from ._inputs import INPUT_PARAMS, MODEL_PARAMS, check_inputs
from ._spec import Param, RecipeSpec, boolean
from .model_shape import model_shape

RUNNER = "puzzle_platform.worker.recipes.logit_lens:run"
MAX_TOKEN_CHARS = 200
MEASURES = ("logit", "prob", "rank")


def token_strings(value: Any) -> list[str]:
    """A non-empty array of non-empty strings, kept verbatim (a leading space matters)."""
    if not isinstance(value, list) or not value:
        raise ValueError('must be a non-empty array of strings, one per prompt, e.g. [" Paris"]')
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item:
            raise ValueError(f"item {i} must be a non-empty string, got {item!r}"[:120])
        if len(item) > MAX_TOKEN_CHARS:
            raise ValueError(f"item {i} has {len(item)} characters; one token is shorter")
    return list(value)


def check_prompt_tokens(params: dict, names: tuple[str, ...]) -> None:
    """Prompts only (a target is defined per prompt) and one entry per prompt in each of `names`."""
    check_inputs(params, {})
    if params["random_tokens"] is not None:
        raise ValueError("random_tokens cannot be used: a target token is defined per prompt, so "
                         "give prompts (or prompts_file)")
    n = len(params["prompts"])
    for name in names:
        if len(params[name]) != n:
            raise ValueError(f"{name} has {len(params[name])} entries but there are {n} prompts: "
                             "give one per prompt")


def _check(params: dict, raw: Mapping[str, Any]) -> None:
    check_prompt_tokens(params, ("targets",))


def _patterns(params: dict) -> tuple[str, ...]:
    """Per-layer names, when the model's shape is not known here (checked at compute time)."""
    if model_shape(params["model"], params["revision"]) is not None:
        return ()
    return (r"L\d+\.(logit|prob|rank)",) + ((r"L\d+_mid\.(logit|prob|rank)",) if params["incl_mid"] else ())


def _keys(params: dict) -> frozenset[str]:
    keys = {"first_top1_layer", *(f"final.{m}" for m in MEASURES)}
    shape = model_shape(params["model"], params["revision"])
    if shape is not None:
        keys |= {f"L{l}.{m}" for l in range(shape.n_layers + 1) for m in MEASURES}
        if params["incl_mid"]:
            keys |= {f"L{l}_mid.{m}" for l in range(shape.n_layers) for m in MEASURES}
    return frozenset(keys)


STATISTICS = (
    ("L{l}.logit", "mean over prompts of the target's logit read from the accumulated residual "
                   "at the prompt's last real token after l blocks (l = 0: embeddings, i.e. "
                   "blocks.0.hook_resid_pre; l >= 1: blocks.{l-1}.hook_resid_post), through the "
                   "final norm (statistics recomputed from that residual) and the unembedding "
                   "(W_U, b_U); l = 0..n_layers"),
    ("L{l}.prob", "mean over prompts of the target's probability: softmax of those logits over "
                  "the full vocabulary (float64)"),
    ("L{l}.rank", "mean over prompts of the target's rank among those logits: the number of "
                  "tokens with a strictly larger logit (0 = top; ties favour the target)"),
    ("L{l}_mid.{logit,prob,rank}", "with incl_mid only: the same read from block l's "
                                   "hook_resid_mid (after its attention, before its MLP), "
                                   "l = 0..n_layers-1"),
    ("final.{logit,prob,rank}", "the same from the model's own output logits at the last real "
                                "token (equal to L{n_layers} up to float error)"),
    ("first_top1_layer", "the smallest l in 0..n_layers at which the target is the top token "
                         "(rank 0) for every prompt, whether or not it stays top later; -1 if "
                         "there is none"),
)

SPEC = RecipeSpec(
    name="logit_lens",
    description="Logit lens: each prompt's target token read from the residual stream at its "
                "last token after every layer (final norm then unembedding): mean logit, "
                "probability and rank per layer.",
    params=MODEL_PARAMS + INPUT_PARAMS + (
        Param("targets", "the expected next token of each prompt: an array of strings, one per "
                         "prompt, each exactly one token (GPT-2-style tokenizers need the leading "
                         'space: " Paris")', token_strings),
        Param("incl_mid", "also read each block's resid_mid (after attention, before the MLP)",
              boolean, False),
    ),
    runner=RUNNER,
    check=_check,
    keys=_keys,
    patterns=_patterns,
    statistics=STATISTICS,
    figure="lines of the target's mean probability and mean rank per layer (0 = embeddings)",
)
