"""Runner of the `logit_attribution` recipe: direct logit attribution of
logit(correct) - logit(incorrect) at each prompt's last real token.

With the final norm's scale s frozen at its value on the whole residual (ln_final.hook_scale),
the readout is affine: logit_diff = sum over components x of (w * P(x) / s) . dW_U + final bias,
with P the norm's centring (identity for RMSNorm), w its weight and dW_U the difference of the
two unembedding columns. So the components add up to the model's own logit difference, whatever
the weights (raw: the norm's w and b are applied here; processed: they are folded into W_U and
b_U, and centring W_U leaves logit differences unchanged). Computed in float64.
"""
from __future__ import annotations

import json
from typing import Any

import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from ...recipes import RecipeError
from ...recipes.logit_attribution import SPEC
from ..figures import caption_annotation
from ..inputs import batches, build_tokens
from ..models_runtime import load_bridge
from ._common import provenance, reporter, shown_model
from ._logits import LastToken, forward_last, one_token_ids, require_hooks
from ..run_recipe import ProgressFn

RECIPE_VERSION = "logit_attribution/1"  # bump whenever the maths or conventions change
IDENTITY_RTOL = 1e-3  # refuse a model whose readout the linear decomposition misses by more



def _f64(t: Any) -> torch.Tensor:
    return t.detach().to(torch.float64)


def _norm(bridge: Any, d_model: int, device: str) -> tuple[bool, torch.Tensor, torch.Tensor | None]:
    """(centres?, weight w, bias b or None) of the final norm; no norm: (False, ones, None)."""
    kind = getattr(bridge.cfg, "normalization_type", None)
    ln = getattr(bridge, "ln_final", None)
    if kind is None or ln is None:
        return False, torch.ones(d_model, dtype=torch.float64, device=device), None
    w, b = getattr(ln, "w", None), getattr(ln, "b", None)
    w = _f64(w) if isinstance(w, torch.Tensor) else torch.ones(d_model, dtype=torch.float64, device=device)
    return kind in ("LN", "LNPre"), w, _f64(b) if isinstance(b, torch.Tensor) else None


def run(params: dict, progress: ProgressFn | None = None) -> dict:
    """Artifact {statistics, figure, provenance}; progress(pct, stage) may raise to cancel."""
    p = SPEC.validate_params(params)
    report = progress or (lambda pct, stage: None)
    report(0, "loading model")
    loaded = load_bridge(p["model"], weights=p["weights"], device=p["device"], revision=p["revision"])
    bridge, dev = loaded.bridge, loaded.device
    cfg = bridge.cfg
    n_layers, n_heads, d_model = int(cfg.n_layers), int(cfg.n_heads), int(cfg.d_model)
    tokens = build_tokens(bridge, p)
    correct = one_token_ids(bridge, p["correct"], p["prompts"], "correct")
    incorrect = one_token_ids(bridge, p["incorrect"], p["prompts"], "incorrect")

    points = [("embed", "hook_embed")]
    if "hook_pos_embed" in bridge.hook_dict:
        points.append(("pos_embed", "hook_pos_embed"))
    for l in range(n_layers):
        points += [(f"z{l}", f"blocks.{l}.attn.hook_z"), (f"L{l}.mlp", f"blocks.{l}.hook_mlp_out")]
    centres, w, b = _norm(bridge, d_model, dev)
    if cfg.normalization_type is not None:
        points.append(("scale", "ln_final.hook_scale"))
    require_hooks(bridge, [h for _, h in points], "direct logit attribution reads it")
    capture = LastToken(points)

    with torch.no_grad():
        W_U, b_U = _f64(bridge.W_U), _f64(bridge.b_U)
        W_O = _f64(bridge.W_O)  # [n_layers, n_heads, d_head, d_model]
        b_O = _f64(bridge.b_O) if getattr(bridge, "b_O", None) is not None else None

    names = (["embed", "pos_embed"] + [f"L{l}.{part}" for l in range(n_layers)
                                       for part in [*(f"H{h}" for h in range(n_heads)), "attn_bias", "mlp"]]
             + ["final_bias"])
    index = {name: i for i, name in enumerate(names)}
    sums = torch.zeros(len(names), dtype=torch.float64, device=dev)
    total = torch.zeros((), dtype=torch.float64, device=dev)
    step = reporter(report, 10, 95)
    n = int(tokens.ids.shape[0])
    for batch in batches(tokens, p["batch_size"], bridge, dev):
        rows = slice(batch.start, batch.start + batch.ids.shape[0])
        c, i = correct[rows].to(dev), incorrect[rows].to(dev)
        logits = forward_last(bridge, batch.ids, batch.lengths, capture).double()
        acts = capture.acts
        diff = logits.gather(-1, c[:, None])[:, 0] - logits.gather(-1, i[:, None])[:, 0]
        direction = (W_U[:, c] - W_U[:, i]).T * w  # [b, d_model]: w * dW_U
        scale = _f64(acts["scale"]).reshape(-1) if "scale" in acts else torch.ones_like(diff)

        def attribute(x: torch.Tensor) -> torch.Tensor:
            """[b, ...] direct contribution of vectors x [b, ..., d_model]."""
            x = _f64(x)
            if centres:
                x = x - x.mean(-1, keepdim=True)
            d = direction.reshape(direction.shape[0], *([1] * (x.dim() - 2)), -1)
            s = scale.reshape(scale.shape[0], *([1] * (x.dim() - 2)))
            return (x * d).sum(-1) / s

        parts = torch.zeros(diff.shape[0], len(names), dtype=torch.float64, device=dev)
        parts[:, index["embed"]] = attribute(acts["embed"])
        if "pos_embed" in acts:
            parts[:, index["pos_embed"]] = attribute(acts["pos_embed"])
        for l in range(n_layers):
            heads = torch.einsum("bhd,hdm->bhm", _f64(acts[f"z{l}"]), W_O[l])
            start = index[f"L{l}.H0"]
            parts[:, start:start + n_heads] = attribute(heads)
            if b_O is not None:
                parts[:, index[f"L{l}.attn_bias"]] = attribute(b_O[l].expand(diff.shape[0], -1))
            parts[:, index[f"L{l}.mlp"]] = attribute(acts[f"L{l}.mlp"])
        const = b_U[c] - b_U[i]
        if b is not None:
            const = const + (W_U[:, c] - W_U[:, i]).T @ b
        parts[:, index["final_bias"]] = const
        miss = (parts.sum(1) - diff).abs()
        if bool((miss > IDENTITY_RTOL * (1 + parts.abs().sum(1))).any()):
            raise RecipeError(f"logit_attribution: the components miss this model's logit "
                              f"difference by up to {float(miss.max()):.3g}: its readout is not "
                              "its final norm and unembedding, so it cannot be attributed")
        sums += parts.sum(0)
        total += diff.sum()
        step(rows.stop, n, "forward passes")

    means = (sums / n).tolist()
    stats: dict[str, float] = dict(zip(names, means))
    stats["sum_of_components"] = float(sum(means))
    stats["total"] = float(total / n)

    report(95, "figure")
    caption = (f"{shown_model(loaded, p)} · {p['weights']} weights · {n} prompts · mean direct contribution to "
               "logit(correct) − logit(incorrect) at each prompt's last token · final norm scale "
               f"frozen · components sum to {stats['sum_of_components']:.4g} (model: "
               f"{stats['total']:.4g})")
    figure = _figure(stats, n_layers, n_heads, shown_model(loaded, p), caption)
    report(100, "done")
    return {"statistics": stats, "figure": figure,
            "provenance": provenance(loaded, p, RECIPE_VERSION, tokens, caption=caption,
                                     correct_ids=correct.tolist(), incorrect_ids=incorrect.tolist(),
                                     has_pos_embed="pos_embed" in dict(points))}


def _figure(stats: dict, n_layers: int, n_heads: int, model: str, caption: str) -> dict:
    """Heads as a layer x head heatmap (diverging around 0); everything else as bars."""
    z = [[stats[f"L{l}.H{h}"] for h in range(n_heads)] for l in range(n_layers)]
    bound = max([abs(v) for row in z for v in row] + [1e-12])
    others = ["embed", "pos_embed"] + [f"L{l}.{k}" for l in range(n_layers)
                                       for k in ("attn_bias", "mlp")] + ["final_bias"]
    fig = make_subplots(rows=1, cols=2, column_widths=[0.55, 0.45], horizontal_spacing=0.12,
                        subplot_titles=("heads (layer × head)", "embeddings, biases, MLPs"))
    fig.add_trace(go.Heatmap(z=z, x=list(range(n_heads)), y=list(range(n_layers)),
                             colorscale="RdBu", zmid=0, zmin=-bound, zmax=bound,
                             colorbar={"title": "logit diff", "x": 0.47},
                             hovertemplate="L%{y}.H%{x}: %{z:.4g}<extra></extra>"), row=1, col=1)
    fig.add_trace(go.Bar(x=others, y=[stats[k] for k in others],
                         marker_color=["#b2182b" if stats[k] < 0 else "#2166ac" for k in others],
                         hovertemplate="%{x}: %{y:.4g}<extra></extra>"), row=1, col=2)
    fig.update_xaxes(title_text="head", dtick=1, row=1, col=1)
    fig.update_yaxes(title_text="layer", dtick=1, autorange="reversed", row=1, col=1)
    fig.update_yaxes(title_text="logit difference", row=1, col=2)
    fig.update_layout(title=f"Direct logit attribution: {model}", template="plotly_white",
                      showlegend=False, margin={"b": 120},
                      annotations=list(fig.layout.annotations) + [caption_annotation(caption, -0.3)])
    return json.loads(fig.to_json())
