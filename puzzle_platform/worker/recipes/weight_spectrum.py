"""Runner of the `weight_spectrum` recipe: one weight matrix -> float64 singular values.

The float32 weights are cast to float64 before any product (OV, QK) and before the SVD, so
the tail of a low-rank circuit (OV has rank <= d_head) is at float64 round-off, well under
the rank tolerance, and `rank` counts the true rank.
"""
from __future__ import annotations

from typing import Any

import plotly.graph_objects as go
import torch

from ...recipes import RecipeError
from ...recipes.weight_spectrum import PER_HEAD, SPEC
from ..figures import finish
from ..models_runtime import load_bridge
from ._common import ProgressFn, provenance, shown_model

RECIPE_VERSION = "weight_spectrum/1"  # bump whenever the maths or conventions change


def _head_matrix(bridge: Any, name: str, layer: int, head: int) -> torch.Tensor:
    """One head's matrix in float64; a grouped K/V head is the one the query head reads."""
    n_layers, n_heads = int(bridge.cfg.n_layers), int(bridge.cfg.n_heads)
    if layer >= n_layers:
        raise RecipeError(f"weight_spectrum: layer {layer} but the model has {n_layers} layers "
                          f"(0 .. {n_layers - 1})")
    if head >= n_heads:
        raise RecipeError(f"weight_spectrum: head {head} but the model has {n_heads} heads per "
                          f"layer (0 .. {n_heads - 1})")

    def weight(w: str) -> torch.Tensor:
        t = getattr(bridge, w)[layer]
        return t[head * t.shape[0] // n_heads].double()  # K/V of grouped-query attention

    if name == "OV":
        return weight("W_V") @ weight("W_O")
    if name == "QK":
        return weight("W_Q") @ weight("W_K").T
    return weight(name)


def spectrum_statistics(M: torch.Tensor, top: int) -> tuple[dict, list[float]]:
    """The statistics of a float64 matrix and all its singular values (descending)."""
    s = torch.linalg.svdvals(M)
    if top > s.numel():
        raise RecipeError(f"weight_spectrum: top = {top} but a {M.shape[0]} x {M.shape[1]} "
                          f"matrix has {s.numel()} singular values")
    total = s.sum()
    if float(total) == 0.0:
        raise RecipeError("weight_spectrum: the matrix is all zeros, so its spectrum has no shape")
    p = s / total
    nz = p[p > 0]
    stats = {
        "count": int(s.numel()),
        "effective_rank": float(torch.exp(-(nz * nz.log()).sum())),
        "participation_ratio": float((s ** 2).sum() ** 2 / (s ** 4).sum()),
        "top1_fraction": float(s[0] / total),
        "rank": int((s > max(M.shape) * torch.finfo(torch.float64).eps * s[0]).sum()),
        "frobenius_norm": float(torch.linalg.norm(M)),
    }
    stats.update({f"sv.{i}": float(s[i]) for i in range(top)})
    return stats, s.cpu().tolist()


def _figure(values: list[float], label: str, caption: str) -> dict:
    fig = go.Figure(go.Scatter(x=list(range(len(values))), y=values, mode="lines+markers",
                               marker={"size": 4},
                               hovertemplate="s_%{x} = %{y:.4g}<extra></extra>"))
    return finish(fig, f"Singular values of {label}", caption, -0.25, 100,
                  xaxis={"title": "index i (descending order)"},
                  yaxis={"title": "singular value s_i", "type": "log"})


def run(params: dict, progress: ProgressFn | None = None) -> dict:
    """Artifact {statistics, singular_values, figure, provenance}."""
    p = SPEC.validate_params(params)
    report = progress or (lambda pct, stage: None)
    report(0, "loading model")
    loaded = load_bridge(p["model"], weights=p["weights"], device=p["device"], revision=p["revision"])
    report(30, "matrix")
    with torch.no_grad():
        if p["matrix"] in PER_HEAD:
            M = _head_matrix(loaded.bridge, p["matrix"], p["layer"], p["head"])
            label = f"{p['matrix']} of L{p['layer']}.H{p['head']}"
        else:
            try:
                M = getattr(loaded.bridge, p["matrix"]).detach().double()
            except Exception as exc:  # the bridge raises various types for absent components
                why = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                raise RecipeError(f"weight_spectrum: model {loaded.name!r} has no "
                                  f"{p['matrix']}: {why}") from None
            label = p["matrix"]
        report(50, "singular values")
        stats, values = spectrum_statistics(M, p["top"])
    shape = [int(M.shape[0]), int(M.shape[1])]
    caption = " · ".join([shown_model(loaded, p), label, f"{p['weights']} weights",
                          f"{shape[0]} x {shape[1]}, float64 SVD",
                          f"rank {stats['rank']}, effective rank {stats['effective_rank']:.2f}"])
    report(95, "figure")
    figure = _figure(values, f"{label}: {shown_model(loaded, p)}", caption)
    report(100, "done")
    return {"statistics": stats, "singular_values": values, "figure": figure,
            "provenance": provenance(loaded, p, RECIPE_VERSION, matrix=p["matrix"],
                                     layer=p["layer"], head=p["head"], shape=shape,
                                     caption=caption)}
