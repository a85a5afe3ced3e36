"""Notebook code for `weight_spectrum` and `embedding_neighbors` (torch-free: this is only text).

Both read weights only. Written to be read by a scholar and to share nothing with the worker
but the definitions: numpy's float64 SVD and matrix_rank for the spectrum; one float64 cosine
matrix-vector product over every row, ordered by numpy's lexsort, for the neighbours.
"""
from __future__ import annotations

from ..recipes.embedding_neighbors import parse_expression

SPECTRUM_BODY = '''
import numpy as np

if MATRIX in ("W_E", "W_U", "W_pos"):
    M = getattr(bridge, MATRIX).detach().cpu().double().numpy()
else:
    def head_matrix(name):                 # [d_model, d_head] (W_O: [d_head, d_model]) of the head
        t = getattr(bridge, name)[LAYER]   # [heads, ...]; fewer K/V heads: the one the query head reads
        return t[HEAD * t.shape[0] // int(bridge.cfg.n_heads)].detach().cpu().double().numpy()
    M = {"OV": lambda: head_matrix("W_V") @ head_matrix("W_O"),
         "QK": lambda: head_matrix("W_Q") @ head_matrix("W_K").T}.get(MATRIX, lambda: head_matrix(MATRIX))()
s = np.linalg.svd(M, compute_uv=False)     # descending, float64
p = s / s.sum()
p = p[p > 0]
recomputed = {
    "count": int(s.size),
    "effective_rank": float(np.exp(-(p * np.log(p)).sum())),
    "participation_ratio": float((s ** 2).sum() ** 2 / (s ** 4).sum()),
    "top1_fraction": float(s[0] / s.sum()),
    "rank": int(np.linalg.matrix_rank(M)),  # s_i > max(rows, cols) * eps * s_0
    "frobenius_norm": float(np.sqrt((M ** 2).sum())),
    **{f"sv.{i}": float(s[i]) for i in range(TOP)},
}
print(MATRIX, "is", M.shape[0], "x", M.shape[1])
recomputed
'''

SPECTRUM_FIGURE = '''try:
    import plotly.graph_objects as go
    go.Figure(go.Scatter(y=s, mode="lines+markers"),
              layout={"title": f"Singular values of {MATRIX}", "xaxis_title": "index i (descending)",
                      "yaxis_title": "s_i", "yaxis_type": "log"}).show()
except ImportError:
    print("pip install plotly to draw it; the singular values:", s.round(6).tolist())
'''


def weight_spectrum_compute(p: dict) -> str:
    return (f"MATRIX, LAYER, HEAD, TOP = {p['matrix']!r}, {p.get('layer')!r}, {p.get('head')!r}, "
            f"{p.get('top', 10)!r}\n" + SPECTRUM_BODY)


def weight_spectrum_figure(p: dict) -> str:
    return SPECTRUM_FIGURE


SPECTRUM_METHOD = (
    "The matrix in float64 (a head's OV = W_V W_O and QK = W_Q W_K^T multiplied after the cast), "
    "its singular values s_0 >= s_1 >= ... from numpy's SVD: `effective_rank` exp(-Σ p_i ln p_i) "
    "with p_i = s_i / Σ s_j, `participation_ratio` (Σ s_i²)² / Σ s_i⁴, `top1_fraction` s_0 / Σ s_i, "
    "`rank` numpy's `matrix_rank` (s_i > max(rows, cols)·eps·s_0), `frobenius_norm` from the "
    "entries.")


NEIGHBORS_BODY = '''
import numpy as np


def token_id(text):
    ids = bridge.to_tokens(text, prepend_bos=False, truncate=False)[0].tolist()
    assert len(ids) == 1, f"{text!r} is {len(ids)} tokens, not one"
    return ids[0]


M = (bridge.W_E if MATRIX == "W_E" else bridge.W_U.T).detach().cpu().double().numpy()  # a row per token
ids = [token_id(text) for _, text in TERMS]
r = sum(sign * M[i] for (sign, _), i in zip(TERMS, ids))
norms = np.linalg.norm(M, axis=1)
cos = np.where(norms > 0, M @ r / np.where(norms > 0, norms, 1.0) / np.linalg.norm(r), 0.0)
candidates = np.array([i for i in range(len(M)) if not (EXCLUDE_INPUTS and i in ids)])
order = candidates[np.lexsort((candidates, -cos[candidates]))]  # cosine descending, then id
recomputed = {"candidates": int(len(order)), "result_norm": float(np.linalg.norm(r)),
              **{f"top.{k}.cos": float(cos[i]) for k, i in enumerate(order[:TOP])}}
if TARGET is not None:
    t = token_id(TARGET)
    rank = int(np.nonzero(order == t)[0][0])
    recomputed.update(rank_of=rank, cos_of=float(cos[t]), top1_is_target=int(rank == 0))
for k, i in enumerate(order[:TOP]):
    print(k, repr(bridge.tokenizer.decode([int(i)])), round(float(cos[i]), 4))
recomputed
'''

NEIGHBORS_FIGURE = '''labels = [f"{k}: {bridge.tokenizer.decode([int(i)])!r}"
          for k, i in enumerate(order[:TOP])]
try:
    import plotly.graph_objects as go
    go.Figure(go.Bar(x=labels, y=[cos[i] for i in order[:TOP]]),
              layout={"title": "Nearest tokens to " + EXPRESSION, "xaxis_type": "category",
                      "yaxis_title": "cosine with the result"}).show()
except ImportError:
    print("pip install plotly to draw it")
'''


def embedding_neighbors_compute(p: dict) -> str:
    terms = parse_expression(p["expression"])
    return (f"EXPRESSION = {p['expression']!r}\n"
            f"TERMS = {terms!r}  # (sign, token text): the expression, parsed\n"
            f"MATRIX, TARGET, TOP = {p.get('matrix', 'W_E')!r}, {p.get('target')!r}, {p.get('top', 10)!r}\n"
            f"EXCLUDE_INPUTS = {bool(p.get('exclude_inputs', True))!r}  # the expression's tokens left out\n"
            + NEIGHBORS_BODY)


def embedding_neighbors_figure(p: dict) -> str:
    return NEIGHBORS_FIGURE


NEIGHBORS_METHOD = (
    "The result r = Σ sign · row of the expression's tokens (rows of W_E, or of W_U transposed), "
    "in float64; the cosine of r with every row (0 for a zero row); the candidates (every token, "
    "less the expression's own with `EXCLUDE_INPUTS`) ordered by cosine, descending, ties by "
    "token id. `top.{i}.cos` the i-th cosine in that order; with a target its 0-based `rank_of`, "
    "`cos_of` and `top1_is_target`.")
