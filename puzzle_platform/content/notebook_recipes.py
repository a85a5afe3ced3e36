"""Per-recipe code of the "reproduce it yourself" notebooks (torch-free: this is only text).

A recipe gets an exact recomputation by adding a `NotebookTemplate` to TEMPLATES: `compute`
returns the code of one cell that leaves `recomputed` (statistic name -> number) from the
notebook's `bridge` (a TransformerBridge, in compatibility mode for processed weights) and,
for recipes that read text, `sequences` (a list of 1-D token-id tensors, unpadded); `figure`
returns the code of a cell that redraws the figure. The code must stand alone (torch, numpy,
TransformerLens; plotly where installed), never import puzzle_platform, and follow the
recipe's exact definitions in the README (the activation recipes' code is in
notebook_activations.py, the logit and ablation recipes' in notebook_logits.py, the weight
recipes' in notebook_weights.py). A recipe without a template still gets a notebook that
loads the model and the inputs, with the artifact's values to explore against.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from . import notebook_activations as act
from . import notebook_logits as lg
from . import notebook_weights as wt


@dataclass(frozen=True)
class NotebookTemplate:
    compute: Callable[[dict], str]               # params -> code leaving `recomputed`
    figure: Callable[[dict], str] | None = None  # params -> code redrawing the figure
    method: str = ""                             # Markdown: how the recomputation works


def _embedding_cosine_compute(p: dict) -> str:
    return f'''import math

MATRIX, TOKENS, SEED = {p["matrix"]!r}, {p["tokens"]!r}, {p["seed"]!r}
CENTER, DIAGONAL, HISTOGRAM = {p["center"]!r}, {p["diagonal"]!r}, {p["histogram"]!r}

with torch.no_grad():
    X = getattr(bridge, MATRIX)            # W_E, W_pos: (rows, d_model); W_U: (d_model, d_vocab)
    X = (X.T if MATRIX == "W_U" else X).detach().to("cpu", torch.float64)
if TOKENS != "all" and TOKENS < X.shape[0]:  # a seeded sample of rows, sorted
    X = X[torch.randperm(X.shape[0], generator=torch.Generator().manual_seed(SEED))[:TOKENS].sort().values]


def cosine_stats(X, reference=None):
    """Exact statistics of all pairwise cosines of X's non-zero rows, in float64, from
    sum_ij u_i.u_j = |sum_i u_i|^2 and sum_ij (u_i.u_j)^2 = ||U^T U||_F^2 (no n x n matrix)."""
    norms = X.norm(dim=1)
    dropped = int((norms == 0).sum())
    X, norms = X[norms > 0], norms[norms > 0]
    n = X.shape[0]
    U = X / norms[:, None]
    s = U.sum(dim=0)
    gram = U.T @ U
    first, second = float(s @ s), float((gram * gram).sum())

    def mean_std(a, b, count):
        mean = a / count
        return mean, math.sqrt(max(b / count - mean * mean, 0.0))

    mean_cos, std_cos = mean_std(first - n, second - n, n * (n - 1))  # pairs i != j
    mean_diag, std_diag = mean_std(first, second, n * n)              # with the n self-pairs
    mean = X.mean(dim=0)
    ref = mean if reference is None else reference
    mean_norm, norm_of_mean = float(norms.mean()), float(mean.norm())
    return X, {{
        "n": n, "d_model": X.shape[1], "zero_norm_rows": dropped,
        "mean_cos": mean_cos, "std_cos": std_cos,
        "mean_cos_with_diag": mean_diag, "std_cos_with_diag": std_diag,
        "mean_cos_to_mean": float(s @ ref) / (n * float(ref.norm())) if float(ref.norm()) > 0 else 0.0,
        "mean_norm": mean_norm, "norm_of_mean": norm_of_mean, "norm_ratio": norm_of_mean / mean_norm,
    }}


rows, recomputed = cosine_stats(X)
mean_row = rows.mean(dim=0)
centered = rows - mean_row                 # centred on the non-zero rows only
_, centered_stats = cosine_stats(centered, reference=mean_row)
for key in ("mean_cos", "std_cos", "mean_cos_with_diag", "std_cos_with_diag", "mean_cos_to_mean"):
    recomputed["centered_" + key] = centered_stats[key]
recomputed["centered_zero_norm_rows"] = centered_stats["zero_norm_rows"]
if HISTOGRAM == "exact":                   # the histogram counts every ordered pair i != j
    shown = centered_stats["n"] if CENTER else recomputed["n"]
    recomputed["entries_counted"] = shown * (shown - 1) + (shown if DIAGONAL else 0)
recomputed
'''


def _embedding_cosine_figure(p: dict) -> str:
    return f'''import numpy as np

BINS, LO, HI = {p["bins"]!r}, -1.0, 1.0
target = (centered if CENTER else rows)
if target.shape[0] > 4000:                 # the full n x n matrix would not fit: a seeded sample
    pick = torch.randperm(target.shape[0], generator=torch.Generator().manual_seed(SEED))[:4000]
    target = target[pick]
U = target / target.norm(dim=1, keepdim=True)
U = U[torch.isfinite(U).all(dim=1)]
C = (U @ U.T).numpy()
values = C.ravel() if DIAGONAL else C[~np.eye(len(C), dtype=bool)]
index = np.clip(np.floor((values - LO) * BINS / (HI - LO)), 0, BINS - 1).astype(int)
counts = np.bincount(index, minlength=BINS)
edges = np.linspace(LO, HI, BINS + 1)
try:
    import plotly.graph_objects as go
    go.Figure(go.Bar(x=(edges[:-1] + edges[1:]) / 2, y=counts, width=(HI - LO) / BINS),
              layout={{"title": f"cosine similarity of {{MATRIX}} rows" + (" (centred)" if CENTER else ""),
                       "xaxis_title": "cosine", "yaxis_title": "pairs"}}).show()
except ImportError:
    print("pip install plotly to draw it; the counts per bin:", counts.tolist())
'''


TEMPLATES: dict[str, NotebookTemplate] = {
    "embedding_cosine": NotebookTemplate(
        compute=_embedding_cosine_compute, figure=_embedding_cosine_figure,
        method="The statistics are exact closed forms over every pair of rows (zero-norm rows "
               "dropped, population standard deviation, pairs i != j unless the name says "
               "`with_diag`); the centred ones use the rows minus their mean, with the uncentred "
               "mean as the reference of `mean_cos_to_mean`. The histogram's own estimates "
               "(`sample_*`) are not recomputed here."),
    "activation_stats": NotebookTemplate(act.activation_stats_compute, act.activation_stats_figure,
                                         act.ACTIVATION_METHOD),
    "attention_heads": NotebookTemplate(act.attention_heads_compute, act.attention_heads_figure,
                                        act.HEADS_METHOD),
    "logit_lens": NotebookTemplate(lg.logit_lens_compute, lg.logit_lens_figure, lg.LENS_METHOD),
    "logit_attribution": NotebookTemplate(lg.logit_attribution_compute, lg.logit_attribution_figure,
                                          lg.ATTRIBUTION_METHOD),
    "ablation": NotebookTemplate(lg.ablation_compute, lg.ablation_figure, lg.ABLATION_METHOD),
    "weight_spectrum": NotebookTemplate(wt.weight_spectrum_compute, wt.weight_spectrum_figure,
                                        wt.SPECTRUM_METHOD),
    "embedding_neighbors": NotebookTemplate(wt.embedding_neighbors_compute, wt.embedding_neighbors_figure,
                                            wt.NEIGHBORS_METHOD),
}
