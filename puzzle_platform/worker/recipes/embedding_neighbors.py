"""Runner of the `embedding_neighbors` recipe: token arithmetic -> nearest tokens by cosine.

Every cosine is float64 (rows cast in chunks, so a large vocabulary never needs a whole
float64 copy of the matrix). The neighbour tokens' text goes in the artifact's `neighbors`
and the figure, since statistics are numbers only.
"""
from __future__ import annotations

import json
from typing import Any

import plotly.graph_objects as go
import torch

from ...recipes import RecipeError
from ...recipes.embedding_neighbors import SPEC, parse_expression
from ..figures import finish
from ..models_runtime import load_bridge
from ._common import ProgressFn, provenance, shown_model

RECIPE_VERSION = "embedding_neighbors/1"  # bump whenever the maths or conventions change
CHUNK_ROWS = 8192


def token_id(bridge: Any, text: str, role: str) -> int:
    """The id of `text`, which must be exactly one token (not the unknown token)."""
    ids = bridge.to_tokens(text, prepend_bos=False, truncate=False)[0].tolist()
    tok = bridge.tokenizer
    if len(ids) != 1:
        pieces = ", ".join(json.dumps(tok.decode([i])) for i in ids[:8])
        raise RecipeError(f"embedding_neighbors: {role} {text!r} is {len(ids)} tokens for this "
                          f"model's tokenizer ({pieces}); each must be exactly one token")
    unk = getattr(tok, "unk_token_id", None)
    if unk is not None and ids[0] == unk and text != tok.unk_token:
        raise RecipeError(f"embedding_neighbors: {role} {text!r} is not in this model's "
                          f"vocabulary (it tokenizes to the unknown token)")
    return int(ids[0])


def cosines(M: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """float64 cos(row_i, r) for every row of M (0 for a zero row); r is float64, non-zero."""
    out = torch.empty(M.shape[0], dtype=torch.float64, device=M.device)
    rn = torch.linalg.norm(r)
    for start in range(0, M.shape[0], CHUNK_ROWS):
        X = M[start:start + CHUNK_ROWS].double()
        norms = torch.linalg.norm(X, dim=1)
        dots = X @ r
        out[start:start + CHUNK_ROWS] = torch.where(norms > 0, dots / (norms * rn).clamp_min(1e-300),
                                                    torch.zeros_like(dots))
    return out


def _figure(neighbors: list[dict], target: int | None, title: str, caption: str) -> dict:
    labels = [f"{n['rank']}: {json.dumps(n['token'])}" for n in neighbors]
    colours = ["#d62728" if n["token_id"] == target else "#1f77b4" for n in neighbors]
    fig = go.Figure(go.Bar(x=labels, y=[n["cos"] for n in neighbors], marker_color=colours,
                           hovertemplate="%{x}<br>cos %{y:.4f}<extra></extra>"))
    return finish(fig, title, caption, -0.45, 140, xaxis={"title": "nearest tokens (rank: text)", "type": "category"},
                  yaxis={"title": "cosine with the result"})


def run(params: dict, progress: ProgressFn | None = None) -> dict:
    """Artifact {statistics, neighbors, target, figure, provenance}."""
    p = SPEC.validate_params(params)
    report = progress or (lambda pct, stage: None)
    report(0, "loading model")
    loaded = load_bridge(p["model"], weights=p["weights"], device=p["device"], revision=p["revision"])
    bridge = loaded.bridge
    terms = [(sign, text, token_id(bridge, text, "expression token"))
             for sign, text in parse_expression(p["expression"])]
    target = token_id(bridge, p["target"], "target") if p["target"] is not None else None

    report(20, "cosines")
    with torch.no_grad():
        M = bridge.W_E if p["matrix"] == "W_E" else bridge.W_U.T
        M = M.detach()
        for _, text, i in terms + ([(1, p["target"], target)] if target is not None else []):
            if i >= M.shape[0]:
                raise RecipeError(f"embedding_neighbors: token {text!r} has id {i} but "
                                  f"{p['matrix']} has only {M.shape[0]} rows")
        r = torch.zeros(M.shape[1], dtype=torch.float64, device=M.device)
        for sign, _, i in terms:
            r += sign * M[i].double()
        result_norm = float(torch.linalg.norm(r))
        if result_norm == 0.0:
            raise RecipeError("embedding_neighbors: the expression sums to the zero vector, "
                              "which has no direction")
        cos = cosines(M, r).cpu()
    keep = torch.ones(len(cos), dtype=torch.bool)
    if p["exclude_inputs"]:
        keep[[i for _, _, i in terms]] = False
    if target is not None and not keep[target]:
        raise RecipeError(f"embedding_neighbors: target {p['target']!r} is one of the "
                          "expression's tokens, which exclude_inputs = true leaves out")
    ids = torch.arange(len(cos))[keep]
    order = ids[torch.sort(-cos[keep], stable=True).indices]  # by cosine desc, ties by id
    if p["top"] > len(order):
        raise RecipeError(f"embedding_neighbors: top = {p['top']} but only {len(order)} "
                          "tokens are ranked")

    report(80, "neighbours")
    tok = bridge.tokenizer
    neighbors = [{"rank": k, "token_id": int(i), "token": tok.decode([int(i)]),
                  "cos": float(cos[i])} for k, i in enumerate(order[:p["top"]].tolist())]
    stats: dict[str, float | int] = {"candidates": int(len(order)), "result_norm": result_norm}
    stats.update({f"top.{k}.cos": n["cos"] for k, n in enumerate(neighbors)})
    target_info = None
    if target is not None:
        rank = int((order == target).nonzero()[0, 0])
        stats.update(rank_of=rank, cos_of=float(cos[target]), top1_is_target=int(rank == 0))
        target_info = {"token": p["target"], "token_id": target, "rank": rank,
                       "cos": float(cos[target])}
    shown = " ".join(f"{'-' if s < 0 else '+'} {json.dumps(t)}" for s, t, _ in terms).lstrip("+ ")
    caption = " · ".join([shown_model(loaded, p), f"{p['matrix']} rows", f"{p['weights']} weights",
                          f"float64 cosine over {len(order):,} tokens",
                          "inputs excluded" if p["exclude_inputs"] else "inputs included"]
                         + ([f"target {json.dumps(p['target'])}: rank {stats['rank_of']}"]
                            if target is not None else []))
    figure = _figure(neighbors, target, f"Nearest tokens to {shown}: {shown_model(loaded, p)}", caption)
    report(100, "done")
    return {"statistics": stats, "neighbors": neighbors, "target": target_info, "figure": figure,
            "provenance": provenance(loaded, p, RECIPE_VERSION, matrix=p["matrix"],
                                     expression=p["expression"],
                                     token_ids=[i for _, _, i in terms], caption=caption)}
