"""Spec of the `ablation` recipe: how much the next-token loss rises when heads or MLP layers
are knocked out (zero, mean or resample ablation), each on its own and optionally together.

Component names are checked here (torch-free); whether layer and head exist in the model is
checked when it runs.
"""
from __future__ import annotations

import re
from typing import Any, Mapping

from ._inputs import INPUT_PARAMS, MODEL_PARAMS, check_inputs
from ._spec import Param, RecipeSpec, boolean, choice, integer, optional

RUNNER = "puzzle_platform.worker.recipes.ablation:run"
MAX_COMPONENTS = 256
_COMPONENT = re.compile(r"L(0|[1-9]\d{0,3})\.(?:H(0|[1-9]\d{0,3})|(mlp))")


def parse_component(name: str) -> tuple[int, int | None]:
    """"L3.H7" -> (3, 7), "L3.mlp" -> (3, None); ValueError otherwise."""
    match = _COMPONENT.fullmatch(name) if isinstance(name, str) else None
    if match is None:
        raise ValueError(f'{name!r} is not a component: write "L<layer>.H<head>" or "L<layer>.mlp"'[:160])
    return int(match[1]), None if match[3] else int(match[2])


def components(value: Any) -> list[str]:
    if not isinstance(value, list) or not value:
        raise ValueError('must be a non-empty array such as ["L0.H3", "L1.mlp"]')
    if len(value) > MAX_COMPONENTS:
        raise ValueError(f"at most {MAX_COMPONENTS} components, got {len(value)}")
    for item in value:
        parse_component(item)
    dupes = sorted({c for c in value if value.count(c) > 1})
    if dupes:
        raise ValueError(f"{dupes[0]!r} is listed twice")
    return list(value)


def _check(params: dict, raw: Mapping[str, Any]) -> None:
    check_inputs(params, raw)
    if params["method"] != "resample":
        if params["seed"] is not None:
            raise ValueError('seed is only used with method = "resample"')
    elif params["seed"] is None:
        params["seed"] = 0


def _keys(params: dict) -> frozenset[str]:
    keys = {"loss_clean", "positions"}
    for c in params["components"]:
        keys |= {f"{c}.loss_ablated", f"{c}.delta"}
    if params["together"]:
        keys |= {"all.loss_ablated", "all.delta"}
    if params["together"] or len(params["components"]) == 1:
        keys |= {"loss_ablated", "delta"}
    return frozenset(keys)


STATISTICS = (
    ("loss_clean", "mean next-token cross-entropy (nats, natural log, float64 log-softmax of the "
                   "logits) over every real position whose next token is real, model unchanged"),
    ("positions", "number of positions averaged over (real positions with a real next token)"),
    ("{component}.loss_ablated", "the same mean loss with that component alone ablated"),
    ("{component}.delta", "{component}.loss_ablated - loss_clean"),
    ("all.loss_ablated", "together = true: the loss with every listed component ablated at once"),
    ("all.delta", "together = true: all.loss_ablated - loss_clean"),
    ("loss_ablated", "the ablation of every listed component at once: present when components "
                     "has one entry or together = true"),
    ("delta", "loss_ablated - loss_clean (same presence)"),
)

SPEC = RecipeSpec(
    name="ablation",
    description="Next-token loss with attention heads (hook_z) or MLP layers (hook_mlp_out) "
                "ablated by zero, mean or resample, each alone and optionally all together.",
    params=MODEL_PARAMS + INPUT_PARAMS + (
        Param("components", 'what to ablate: an array of "L<layer>.H<head>" (one head\'s z, '
                            'before W_O) and "L<layer>.mlp" (the MLP output)', components),
        Param("method", "zero; mean (the component's mean over every real position of the "
                        "inputs); resample (the same position of another input of equal "
                        "length, seeded)", choice("zero", "mean", "resample"), "zero"),
        Param("together", "also ablate every listed component at once (all.*)", boolean, False),
        Param("seed", "seed of the resample pairing (method = resample; default 0)",
              optional(integer(0, 2**63 - 1)), None),
    ),
    runner=RUNNER,
    check=_check,
    keys=_keys,
    statistics=STATISTICS,
    figure="bar chart of the loss increase (delta, nats) per component, and all together",
)
