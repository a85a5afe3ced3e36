"""Runner of the `attention_heads` recipe: every head's attention pattern on the inputs ->
per-head scores (float64) + layer x head heatmaps.

Only the hook_pattern of each layer is cached, batch by batch; scores are summed per head
over the real query positions and divided once at the end, so batching and padding change
nothing. Query position 0 is left out of every score: it can attend only to itself
(A[0, 0] = 1 and entropy 0 for every head), which says nothing about the head.
"""
from __future__ import annotations

import json
from typing import Any

import numpy as np
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from ...recipes import RecipeError
from ...recipes.attention_heads import head_of, scores
from ..figures import caption_annotation
from ..inputs import batches, build_tokens
from ..models_runtime import load_bridge
from ._common import ProgressFn, provenance, reporter, shown_model
from .activation_stats import inputs_caption, model_caption

RECIPE_VERSION = "attention_heads/1"  # bump whenever the maths or conventions change
TITLES = {"prev_token": "previous token A[q, q-1]", "first_token": "first token A[q, 0]",
          "self": "self A[q, q]", "entropy": "entropy (nats)",
          "induction": "induction A[q, q-len+1]"}


def induction_positions(length: int, bos: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """(query, key) positions of the induction score on [BOS] r_1..r_len r_1..r_len: the
    second copy's queries q = len+b .. 2len-1+b (b = 1 with BOS) and keys q - len + 1, the
    token after the previous occurrence of the query's token."""
    b = 1 if bos else 0
    q = torch.arange(length + b, 2 * length + b)
    return q, q - length + 1


def _accumulate(sums: dict[str, torch.Tensor], layer: int, pattern: torch.Tensor,
                qmask: torch.Tensor, induction: tuple[torch.Tensor, torch.Tensor] | None) -> None:
    """Add one batch's per-head sums of layer `layer` (pattern [b, head, q, k])."""
    A = pattern.double()
    w = qmask.double()[:, None, :]                                  # [b, 1, q]
    per_q = {
        "first_token": A[..., 0],
        "self": A.diagonal(dim1=2, dim2=3),
        "entropy": -torch.xlogy(A, A).sum(-1),
    }
    for name, values in per_q.items():
        sums[name][layer] += (values * w).sum((0, 2))
    # A[q, q-1] for q = 1 .. Q-1 (q = 0 has no previous token)
    sums["prev_token"][layer] += (A.diagonal(offset=-1, dim1=2, dim2=3) * w[:, :, 1:]).sum((0, 2))
    if induction is not None:
        q, k = (t.to(A.device) for t in induction)
        sums["induction"][layer] += A[:, :, q, k].sum((0, 2))


def _figure(mats: dict[str, np.ndarray], title: str, caption: str) -> dict:
    names = list(mats)
    fig = make_subplots(rows=1, cols=len(names), subplot_titles=[TITLES[n] for n in names],
                        horizontal_spacing=0.06)
    layout: dict[str, Any] = {}
    for i, name in enumerate(names, 1):
        m = mats[name]
        fig.add_trace(go.Heatmap(z=m.tolist(), x=list(range(m.shape[1])), y=list(range(m.shape[0])),
                                 coloraxis=f"coloraxis{i if i > 1 else ''}",
                                 hovertemplate=f"L%{{y}}.H%{{x}}<br>{name} %{{z:.4f}}<extra></extra>"),
                      row=1, col=i)
        domain = fig.layout[f"xaxis{i if i > 1 else ''}"].domain
        layout[f"coloraxis{i if i > 1 else ''}"] = {
            "colorscale": "Viridis", "colorbar": {"x": domain[1] + 0.003, "len": 0.75, "thickness": 8}}
        fig.update_xaxes(title_text="head", dtick=1, row=1, col=i)
        fig.update_yaxes(title_text="layer" if i == 1 else None, dtick=1, autorange="reversed", row=1, col=i)
    fig.update_layout(title=title, template="plotly_white", margin={"b": 130}, **layout,
                      annotations=list(fig.layout.annotations) + [caption_annotation(caption, -0.3)])
    return json.loads(fig.to_json())


def _summaries(name: str, m: np.ndarray) -> dict:
    hi, lo = int(np.argmax(m)), int(np.argmin(m))  # the first in (layer, head) order on ties
    n_heads = m.shape[1]
    return {f"{name}.max": float(m.flat[hi]), f"{name}.argmax_layer": hi // n_heads,
            f"{name}.argmax_head": hi % n_heads, f"{name}.min": float(m.flat[lo]),
            f"{name}.argmin_layer": lo // n_heads, f"{name}.argmin_head": lo % n_heads,
            f"{name}.mean": float(m.mean())}


def run(params: dict, progress: ProgressFn | None = None) -> dict:
    """Artifact {statistics, scores, figure, provenance}; progress(pct, stage) may raise to cancel."""
    report = progress or (lambda pct, stage: None)
    report(0, "loading model")
    loaded = load_bridge(params["model"], weights=params["weights"], device=params["device"],
                         revision=params["revision"])
    bridge = loaded.bridge
    n_layers, n_heads = int(bridge.cfg.n_layers), int(bridge.cfg.n_heads)
    for head in params["heads"]:
        layer, h = head_of(head)
        if layer >= n_layers or h >= n_heads:
            raise RecipeError(f"attention_heads: parameter 'heads': {head} is not a head of this "
                              f"model ({n_layers} layers of {n_heads} heads, L0.H0 .. "
                              f"L{n_layers - 1}.H{n_heads - 1})")
    tokens = build_tokens(bridge, params)
    names = scores(params)
    induction = None
    if "induction" in names:
        induction = induction_positions(params["random_tokens"]["length"], params["prepend_bos"])
    hooks = {f"blocks.{layer}.attn.hook_pattern": layer for layer in range(n_layers)}
    sums = {n: torch.zeros(n_layers, n_heads, dtype=torch.float64, device=loaded.device) for n in names}
    query_positions = induction_count = 0
    todo = list(batches(tokens, params["batch_size"], bridge, loaded.device))
    step = reporter(report, 5, 95)
    for done, batch in enumerate(todo):
        with torch.no_grad():
            _, cache = bridge.run_with_cache(batch.ids, names_filter=lambda name: name in hooks)
        qmask = batch.mask.clone()
        qmask[:, 0] = False
        for name, layer in hooks.items():
            _accumulate(sums, layer, cache[name], qmask, induction)
        del cache
        query_positions += int(qmask.sum())
        induction_count += 0 if induction is None else batch.ids.shape[0] * len(induction[0])
        step(done + 1, len(todo), f"batch {done + 1} of {len(todo)}")
    if query_positions == 0:
        raise RecipeError("attention_heads: every sequence has a single token; scores need "
                          "query positions q >= 1")
    report(95, "figure")
    mats = {n: (sums[n] / (induction_count if n == "induction" else query_positions)).cpu().numpy()
            for n in names}
    stats: dict[str, float | int] = {"n_layers": n_layers, "n_heads": n_heads,
                                     "query_positions": query_positions}
    if induction is not None:
        stats["induction_positions"] = induction_count
    for name, m in mats.items():
        stats.update(_summaries(name, m))
        for head in params["heads"]:
            layer, h = head_of(head)
            stats[f"{head}.{name}"] = float(m[layer, h])
    conventions = ("A[q, k]: attention of query q to key k; each score is a mean over every real "
                   "query position q >= 1 of every sequence (pooled)")
    if induction is not None:
        conventions += (f"; induction over the second copy's {len(induction[0])} queries, key "
                        "q - len + 1")
    caption = " · ".join([model_caption(loaded, params), inputs_caption(tokens), conventions])
    figure = _figure(mats, f"Attention head scores: {shown_model(loaded, params)}", caption)
    prov = provenance(loaded, params, RECIPE_VERSION, tokens, heads=list(params["heads"]),
                      batches=len(todo), caption=caption)
    report(100, "done")
    return {"statistics": stats, "scores": {n: m.tolist() for n, m in mats.items()},
            "figure": figure, "provenance": prov}
