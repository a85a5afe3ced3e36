"""Spec of the `logit_attribution` recipe: direct logit attribution of the difference
logit(correct) - logit(incorrect) at each prompt's last token to every component that writes
to the residual stream (embeddings, each attention head, attention biases, MLPs).

The final norm's scale is frozen at its value on the full residual, which makes the readout
linear, so the components add up to the model's own logit difference (a test holds it to that).
"""
from __future__ import annotations

from typing import Any, Mapping

from ._inputs import INPUT_PARAMS, MODEL_PARAMS
from ._spec import Param, RecipeSpec
from .logit_lens import check_prompt_tokens, token_strings
from .model_shape import model_shape

RUNNER = "puzzle_platform.worker.recipes.logit_attribution:run"
FIXED_KEYS = ("embed", "pos_embed", "final_bias", "sum_of_components", "total")


def _check(params: dict, raw: Mapping[str, Any]) -> None:
    check_prompt_tokens(params, ("correct", "incorrect"))
    for i, (good, bad) in enumerate(zip(params["correct"], params["incorrect"])):
        if good == bad:
            raise ValueError(f"correct[{i}] and incorrect[{i}] are both {good!r}: their logit "
                             "difference is 0 whatever the model does")


def _patterns(params: dict) -> tuple[str, ...]:
    """Per-layer and per-head names, when the model's shape is not known here."""
    if model_shape(params["model"], params["revision"]) is not None:
        return ()
    return (r"L\d+\.H\d+", r"L\d+\.(attn_bias|mlp)")


def _keys(params: dict) -> frozenset[str]:
    keys = set(FIXED_KEYS)
    shape = model_shape(params["model"], params["revision"])
    if shape is not None:
        for l in range(shape.n_layers):
            keys |= {f"L{l}.H{h}" for h in range(shape.n_heads)}
            keys |= {f"L{l}.attn_bias", f"L{l}.mlp"}
    return frozenset(keys)


STATISTICS = (
    ("total", "mean over prompts of the model's own logit(correct) - logit(incorrect) at the "
              "prompt's last real token"),
    ("embed", "mean over prompts of the token embedding's direct contribution: "
              "(w * P(x) / s) . (W_U[:, correct] - W_U[:, incorrect]), where x is the "
              "component's vector at the last token, P centres it (LayerNorm; identity for "
              "RMSNorm), s is the final norm's scale on the full residual there "
              "(ln_final.hook_scale, frozen) and w the final norm's weight"),
    ("pos_embed", "the same for the positional embedding (0 for models without one, e.g. "
                  "rotary)"),
    ("L{l}.H{h}", "the same for head h of block l: its hook_z at the last token times its W_O"),
    ("L{l}.attn_bias", "the same for block l's attention output bias b_O (0 when it has none)"),
    ("L{l}.mlp", "the same for block l's MLP output (hook_mlp_out)"),
    ("final_bias", "mean over prompts of the part no residual component writes: "
                   "b . (W_U[:, correct] - W_U[:, incorrect]) + b_U[correct] - b_U[incorrect], "
                   "b the final norm's bias (with processed weights both sit in b_U)"),
    ("sum_of_components", "the sum of all the component statistics above; equals total up to "
                          "float error"),
)

SPEC = RecipeSpec(
    name="logit_attribution",
    description="Direct logit attribution: each head's, MLP's and embedding's contribution to "
                "logit(correct) - logit(incorrect) at each prompt's last token, through the "
                "final norm with its scale frozen.",
    params=MODEL_PARAMS + INPUT_PARAMS + (
        Param("correct", "the right next token of each prompt: an array of strings, one per "
                         "prompt, each exactly one token (GPT-2-style tokenizers need the leading "
                         'space: " Mary")', token_strings),
        Param("incorrect", "the wrong next token to compare with, one per prompt, each one token",
              token_strings),
    ),
    runner=RUNNER,
    check=_check,
    keys=_keys,
    patterns=_patterns,
    statistics=STATISTICS,
    figure="heatmap of each head's mean contribution (layer x head, diverging around 0) beside "
           "bars for the embeddings, attention biases, MLPs and final bias",
)
