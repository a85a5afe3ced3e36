"""Runner of the `logit_lens` recipe: the target token's logit, probability and rank read from
the residual stream at each prompt's last real token after every layer.

Each residual goes through the final norm with its own statistics (as TransformerLens's
accumulated_resid(apply_ln=True) / logit_lens do), then W_U and b_U. Probability and rank do
not depend on processed vs raw weights; the logit does, by a constant per prompt and layer
(processed weights centre W_U).
"""
from __future__ import annotations

import json

import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from ...recipes.logit_lens import SPEC
from ..figures import caption_annotation
from ..inputs import batches, build_tokens
from ..models_runtime import load_bridge
from ._common import provenance, reporter, shown_model
from ._logits import LastToken, check_readout, forward_last, one_token_ids, readout, require_hooks
from ..run_recipe import ProgressFn

RECIPE_VERSION = "logit_lens/1"  # bump whenever the maths or conventions change



def _points(n_layers: int, incl_mid: bool) -> list[tuple[str, str]]:
    """(label, hook) in residual-stream order: L0, [L0_mid], L1, ..., L{n_layers}."""
    points = [("L0", "blocks.0.hook_resid_pre")]
    for l in range(n_layers):
        if incl_mid:
            points.append((f"L{l}_mid", f"blocks.{l}.hook_resid_mid"))
        points.append((f"L{l + 1}", f"blocks.{l}.hook_resid_post"))
    return points


def _measures(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """[b, 3] float64: the target's logit, softmax probability and rank (strictly larger logits)."""
    lg = logits.double()
    t = lg.gather(-1, target[:, None])
    prob = torch.exp(t - torch.logsumexp(lg, -1, keepdim=True))
    rank = (lg > t).sum(-1, keepdim=True).double()
    return torch.cat([t, prob, rank], dim=-1)


def run(params: dict, progress: ProgressFn | None = None) -> dict:
    """Artifact {statistics, figure, provenance}; progress(pct, stage) may raise to cancel."""
    p = SPEC.validate_params(params)
    report = progress or (lambda pct, stage: None)
    report(0, "loading model")
    loaded = load_bridge(p["model"], weights=p["weights"], device=p["device"], revision=p["revision"])
    bridge = loaded.bridge
    n_layers = int(bridge.cfg.n_layers)
    tokens = build_tokens(bridge, p)
    target = one_token_ids(bridge, p["targets"], p["prompts"], "targets")
    points = _points(n_layers, p["incl_mid"])
    require_hooks(bridge, [h for _, h in points],
                  "incl_mid needs resid_mid: models with parallel attention and MLP have none")
    labels = [label for label, _ in points] + ["final"]
    capture = LastToken(points)

    dev = loaded.device
    sums = torch.zeros(len(labels), 3, dtype=torch.float64, device=dev)
    top_for_all = [True] * len(labels)
    step = reporter(report, 10, 95)
    n = int(tokens.ids.shape[0])
    for batch in batches(tokens, p["batch_size"], bridge, dev):
        t = target[batch.start:batch.start + batch.ids.shape[0]].to(dev)
        final = forward_last(bridge, batch.ids, batch.lengths, capture)
        for i, label in enumerate(labels):
            logits = final if label == "final" else readout(bridge, capture.acts[label])
            m = _measures(logits, t)
            sums[i] += m.sum(0)
            top_for_all[i] = top_for_all[i] and bool((m[:, 2] == 0).all())
            if label == f"L{n_layers}":
                check_readout(logits, final, "logit_lens")
        step(batch.start + batch.ids.shape[0], n, "forward passes")

    means = (sums / n).tolist()
    stats: dict[str, float | int] = {}
    for label, (logit, prob, rank) in zip(labels, means):
        stats.update({f"{label}.logit": logit, f"{label}.prob": prob, f"{label}.rank": rank})
    whole = [i for i, label in enumerate(labels) if label.startswith("L") and "_" not in label]
    stats["first_top1_layer"] = next((i for i in range(n_layers + 1)
                                      if top_for_all[whole[i]]), -1)

    report(95, "figure")
    caption = (f"{shown_model(loaded, p)} · {p['weights']} weights · {n} prompts · target at each prompt's "
               "last token · residual after l blocks (0 = embeddings) through the final norm "
               "(recomputed) and W_U · rank 0 = top")
    figure = _figure(stats, points, shown_model(loaded, p), caption)
    report(100, "done")
    return {"statistics": stats, "figure": figure,
            "provenance": provenance(loaded, p, RECIPE_VERSION, tokens, caption=caption,
                                     targets=p["targets"], target_ids=target.tolist(),
                                     incl_mid=p["incl_mid"])}


def _figure(stats: dict, points: list[tuple[str, str]], model: str, caption: str) -> dict:
    """Mean probability (top) and mean rank (bottom) of the target per residual point."""
    x = [int(label[1:]) if "_" not in label else int(label[1:].split("_")[0]) + 0.5
         for label, _ in points]
    names = [label for label, _ in points]
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08,
                        subplot_titles=("mean probability of the target",
                                        "mean rank of the target (0 = top)"))
    for row, measure in ((1, "prob"), (2, "rank")):
        fig.add_trace(go.Scatter(
            x=x, y=[stats[f"{n}.{measure}"] for n in names], mode="lines+markers", name=measure,
            text=names, hovertemplate="%{text}: %{y:.4g}<extra></extra>"), row=row, col=1)
    fig.update_xaxes(title_text="layer (0 = embeddings; .5 = resid_mid)", row=2, col=1, dtick=1)
    fig.update_yaxes(rangemode="tozero", row=1, col=1)
    fig.update_yaxes(rangemode="tozero", row=2, col=1)
    fig.update_layout(title=f"Logit lens: {model}", template="plotly_white", showlegend=False,
                      margin={"b": 110},
                      annotations=list(fig.layout.annotations) + [caption_annotation(caption, -0.16)])
    return json.loads(fig.to_json())
