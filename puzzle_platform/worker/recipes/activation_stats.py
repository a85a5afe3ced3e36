"""Runner of the `activation_stats` recipe: one hook's values at real positions -> exact
statistics + histogram.

Only the one hook is cached (names_filter), batch by batch; values are selected by the mask
of real tokens before anything is accumulated, so padding never enters a statistic. Which
entries count depends on the hook's layout (see `extract`); the README states it per layout.
"""
from __future__ import annotations

import difflib
import json
from typing import Any

import plotly.graph_objects as go
import torch

from ...recipes import RecipeError
from ...recipes.activation_stats import QUANTILES
from ..figures import caption_annotation
from ..inputs import Tokens, batches, build_tokens
from ..models_runtime import load_bridge
from ..streaming_stats import NonDeterministic, NoValues, stream_stats
from ._common import ProgressFn, provenance, reporter, shown_model

RECIPE_VERSION = "activation_stats/1"  # bump whenever the maths or conventions change
QK_HOOKS = ("hook_pattern", "hook_attn_scores")
LAYOUTS = {  # what counts, per layout of the hook's tensor (the figure's caption says it)
    "pos": "[batch, pos]: the value at every real position",
    "pos_d": "[batch, pos, d]: every entry at real positions",
    "pos_head_d": "[batch, pos, head, d]: every entry at real positions",
    "head_q_k": "[batch, head, query, key]: entries with a real query and key <= query, "
                "less any the model masks",
}


def check_hook(bridge: Any, hook: str) -> None:
    """RecipeError naming close hook names when `hook` is not one of the model's hooks."""
    names = list(bridge.hook_dict)
    if hook in names:
        return
    close = difflib.get_close_matches(hook, names, n=4, cutoff=0.6)
    hint = f"close names: {', '.join(close)}" if close else \
        f"e.g. {', '.join(n for n in names if n.startswith('blocks.0.hook_'))[:200]}"
    raise RecipeError(f"activation_stats: hook {hook!r} is not a hook of this model; {hint}")


def layout_of(hook: str, act: torch.Tensor) -> str:
    if act.ndim == 4 and hook.rsplit(".", 1)[-1] in QK_HOOKS:
        return "head_q_k"
    layout = {2: "pos", 3: "pos_d", 4: "pos_head_d"}.get(act.ndim)
    if layout is None:
        raise RecipeError(f"activation_stats: hook {hook!r} has shape {tuple(act.shape)}, "
                          "not [batch, pos, ...]: no per-position values to count")
    return layout


def check_index(hook: str, layout: str, act: torch.Tensor, index: int | None) -> None:
    if index is None:
        return
    axis = {"pos": None, "pos_d": -1, "pos_head_d": 2, "head_q_k": 1}[layout]
    size = None if axis is None else act.shape[axis]
    what = "head" if layout in ("pos_head_d", "head_q_k") else "entry of the last dimension"
    if size is None:
        raise RecipeError(f"activation_stats: parameter 'index': hook {hook!r} has one value per "
                          "position, nothing to index")
    if index >= size:
        raise RecipeError(f"activation_stats: parameter 'index' = {index} but hook {hook!r} has "
                          f"{size} (index picks the {what}, from 0 to {size - 1})")


def extract(act: torch.Tensor, mask: torch.Tensor, layout: str, index: int | None
            ) -> tuple[torch.Tensor, torch.Tensor]:
    """(the counted values, the L2 norm of each row's counted values along the last dim)."""
    if act.shape[0] != mask.shape[0]:
        if act.shape[0] != 1:
            raise RecipeError(f"activation_stats: the hook's first axis ({act.shape[0]}) is not the batch")
        act = act.expand(mask.shape[0], *act.shape[1:])
    act = act.detach()
    if layout == "pos":
        v = act[mask]
        return v, v.double().abs()
    if layout in ("pos_d", "pos_head_d"):
        x = act[mask]                                   # [N, d] or [N, head, d]
        if index is not None:
            x = x[..., index:index + 1] if layout == "pos_d" else x[:, index]
        return x.flatten(), x.double().norm(dim=-1).flatten()
    if index is not None:
        act = act[:, index:index + 1]
    q = torch.arange(act.shape[2], device=act.device)
    keep = mask[:, None, :, None] & (q[None, :] <= q[:, None])[None, None, :, :act.shape[3]]
    if act.is_floating_point():  # scores a model masks (local attention) sit at the dtype's min
        keep = keep & ~(act <= torch.finfo(act.dtype).min / 2)  # a NaN is kept: it must fail the run
    keep = keep.expand(act.shape)
    rows = (act.double().where(keep, 0.0) ** 2).sum(-1).sqrt()       # [b, head, q]
    return act[keep], rows[mask[:, None, :].expand(rows.shape)]


def inputs_caption(tokens: Tokens) -> str:
    """The inputs in a few words: what a reader needs to know beside the model."""
    p = tokens.provenance
    bos = "BOS prepended" if p["prepend_bos"] else "no BOS"
    if p["kind"] == "random_tokens":
        what = (f"random tokens {p['batch']}×{p['length']}{' repeated twice' if p['repeat'] else ''}, "
                f"seed {p['seed']}")
    else:
        source = f" from {p['prompts_file']}" if p.get("prompts_file") else ""
        what = f"{p['prompts']:,} prompts{source}"
    return f"{what}, {p['tokens']:,} tokens, {bos}"


def model_caption(loaded: Any, params: dict) -> str:
    """The model as a caption names it: its label, or its reference (and the repo it resolves to)."""
    model = (shown_model(loaded, params) if params.get("label") or loaded.name == loaded.resolved_name
             else f"{loaded.name} ({loaded.resolved_name})")
    return f"{model}, {loaded.weights} weights"


def _figure(edges: list[float], counts: list[int], title: str, caption: str, xlabel: str) -> dict:
    centres = [(a + b) / 2 for a, b in zip(edges[:-1], edges[1:])]
    widths = [b - a for a, b in zip(edges[:-1], edges[1:])]
    fig = go.Figure(go.Bar(x=centres, y=counts, width=widths, marker_line_width=0,
                           hovertemplate="%{x:.4g}<br>%{y:,} values<extra></extra>"))
    fig.update_layout(title=title, template="plotly_white", bargap=0, showlegend=False,
                      xaxis={"title": xlabel, "range": [edges[0], edges[-1]]},
                      yaxis={"title": "values"}, margin={"b": 110},
                      annotations=[caption_annotation(caption, -0.28)])
    return json.loads(fig.to_json())


def run(params: dict, progress: ProgressFn | None = None) -> dict:
    """Artifact {statistics, histogram, figure, provenance}; progress(pct, stage) may raise to cancel."""
    report = progress or (lambda pct, stage: None)
    report(0, "loading model")
    loaded = load_bridge(params["model"], weights=params["weights"], device=params["device"],
                         revision=params["revision"])
    bridge, hook, index = loaded.bridge, params["hook"], params["index"]
    check_hook(bridge, hook)
    tokens = build_tokens(bridge, params)
    found: dict[str, Any] = {}

    def make_pass(number: int):
        # pass 1 reports 5-60 %, every further pass the rest of the way to 95 %, never back
        lo = 5 if number == 1 else 60 + 35 * (number - 2) // number
        hi = 60 if number == 1 else 60 + 35 * (number - 1) // (number + 1)
        step = reporter(report, lo, max(lo, hi))
        todo = list(batches(tokens, params["batch_size"], bridge, loaded.device))
        found["batches"] = len(todo)
        for done, batch in enumerate(todo):
            with torch.no_grad():
                _, cache = bridge.run_with_cache(batch.ids, names_filter=lambda name: name == hook)
            act = cache[hook]
            del cache
            if "layout" not in found:
                found["layout"] = layout_of(hook, act)
                check_index(hook, found["layout"], act, index)
            values, norms = extract(act, batch.mask, found["layout"], index)
            if values.is_floating_point() and not bool(torch.isfinite(values).all()):
                raise RecipeError(f"activation_stats: hook {hook!r} holds non-finite values at real positions")
            del act
            yield values, norms
            step(done + 1, len(todo), f"pass {number}: batch {done + 1} of {len(todo)}")

    try:
        result = stream_stats(make_pass, params["bins"], QUANTILES)
    except NonDeterministic as exc:
        raise RecipeError(f"activation_stats: the model's outputs changed between passes over the "
                          f"same inputs ({exc}); run on the CPU or with deterministic kernels") from None
    except NoValues:
        raise RecipeError("activation_stats: the inputs give this hook no values to count") from None
    stats = result.stats
    report(95, "figure")
    what = f"{hook}" + (f", index {index}" if index is not None else "")
    caption = " · ".join([what, model_caption(loaded, params), inputs_caption(tokens),
                          f"exact over {stats['count']:,} values ({LAYOUTS[found['layout']]})"])
    figure = _figure(result.edges, result.counts, f"{what}: {shown_model(loaded, params)}", caption, hook)
    prov = provenance(loaded, params, RECIPE_VERSION, tokens, hook=hook, index=index,
                      layout=found["layout"], bins=params["bins"], passes=result.passes,
                      batches=found["batches"], caption=caption)
    report(100, "done")
    return {"statistics": stats, "histogram": {"edges": result.edges, "counts": result.counts},
            "figure": figure, "provenance": prov}
