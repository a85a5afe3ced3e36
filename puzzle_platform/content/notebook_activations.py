"""Notebook code for `activation_stats` and `attention_heads` (torch-free: this is only text).

Written to be read by a scholar and to share nothing with the worker but the definitions: each
sequence runs alone through `run_with_cache` (so there is no padding to mask), the values are
gathered whole and reduced in float64, and quantiles are read off one full sort.
"""
from __future__ import annotations


ACTIVATION_BODY = '''
QK_HOOKS = ("hook_pattern", "hook_attn_scores")  # [batch, head, query, key] hooks


def counted(act):
    """(the counted values, the L2 norm of each row's counted values) of one sequence's
    activation `act` (batch axis dropped), by the hook's layout."""
    if act.ndim == 3 and HOOK.rsplit(".", 1)[-1] in QK_HOOKS:    # [head, query, key]
        if INDEX is not None:
            act = act[INDEX:INDEX + 1]
        T = act.shape[1]
        keep = torch.ones(T, T, dtype=torch.bool).tril().expand(act.shape)  # keys k <= query q
        keep = keep & (act > torch.finfo(act.dtype).min / 2)     # less the scores a model masks
        kept = torch.where(keep, act.double(), torch.zeros((), dtype=torch.float64))
        return act[keep], kept.pow(2).sum(-1).sqrt().flatten()   # a row: one query of one head
    if act.ndim == 1:                                            # [pos]: a row is one value
        return act, act.double().abs()
    if act.ndim == 2:                                            # [pos, d]
        x = act if INDEX is None else act[:, INDEX:INDEX + 1]
    elif act.ndim == 3:                                          # [pos, head, d]
        x = act if INDEX is None else act[:, INDEX]
    else:
        raise ValueError(f"{HOOK} has shape {tuple(act.shape)}: not [batch, pos, ...]")
    return x.flatten(), x.double().norm(dim=-1).flatten()


values, row_norms = [], []
for seq in sequences:                      # each sequence alone: no padding anywhere
    _, cache = bridge.run_with_cache(seq[None].to(DEVICE), names_filter=lambda name: name == HOOK)
    v, norms = counted(cache[HOOK][0].detach().cpu())
    values.append(v)
    row_norms.append(norms)
raw_values = torch.cat(values)             # the model's own dtype, for the quantiles
v = raw_values.double()
n = v.numel()
ordered = raw_values.sort().values


def rank(percent):                         # ceil(percent * n / 100), at least 1, in integers
    return max(1, (percent * n + 99) // 100)


recomputed = {
    "count": n, "mean": float(v.mean()), "std": float(v.std(correction=0)),
    "min": float(v.min()), "max": float(v.max()),
    "q01": float(ordered[rank(1) - 1]), "q50": float(ordered[rank(50) - 1]),
    "q99": float(ordered[rank(99) - 1]),
    "frac_positive": int((v > 0).sum()) / n, "mean_norm": float(torch.cat(row_norms).mean()),
}
recomputed
'''

ACTIVATION_FIGURE = '''import numpy as np

lo, hi = recomputed["min"], recomputed["max"]
counts, edges = np.histogram(v.numpy(), bins=BINS, range=(lo, hi) if hi > lo else (lo - 0.5, lo + 0.5))
try:
    import plotly.graph_objects as go
    go.Figure(go.Bar(x=(edges[:-1] + edges[1:]) / 2, y=counts, width=np.diff(edges)),
              layout={"title": HOOK + ("" if INDEX is None else f", index {INDEX}"),
                      "xaxis_title": HOOK, "yaxis_title": "values", "bargap": 0}).show()
except ImportError:
    print("pip install plotly to draw it; the counts per bin:", counts.tolist())
'''


def activation_stats_compute(p: dict) -> str:
    return (f"HOOK, INDEX, BINS = {p['hook']!r}, {p.get('index')!r}, {p.get('bins', 100)!r}\n"
            + ACTIVATION_BODY)


def activation_stats_figure(p: dict) -> str:
    return ACTIVATION_FIGURE


ACTIVATION_METHOD = (
    "Each sequence runs alone through `run_with_cache` (only the one hook cached), so no padding "
    "is ever computed. What counts depends on the hook's layout: every entry of `[pos]`, "
    "`[pos, d]` and `[pos, head, d]` hooks (`INDEX` picks a last-dimension entry or a head); for "
    "`hook_pattern` and `hook_attn_scores` (`[head, query, key]`) the entries at keys k <= query q, "
    "less any score the model masks (at the dtype's minimum). `std` is the population standard "
    "deviation, quantiles are the value of rank ceil(p·count/100) in ascending order (numpy's "
    "`method=\"inverted_cdf\"`), `mean_norm` the mean over rows (a position, a position and head, "
    "or a query row of a head) of the L2 norm of the row's counted values. All in float64, every "
    "counted value held in memory at once (the worker streams them; fine at puzzle sizes).")


HEADS_BODY = '''
import numpy as np

n_layers, n_heads = int(bridge.cfg.n_layers), int(bridge.cfg.n_heads)
SCORES = ["prev_token", "first_token", "self", "entropy"] + (["induction"] if INDUCTION else [])
sums = {s: torch.zeros(n_layers, n_heads, dtype=torch.float64) for s in SCORES}
query_positions = induction_positions = 0
names = [f"blocks.{l}.attn.hook_pattern" for l in range(n_layers)]
for seq in sequences:                      # each sequence alone: no padding anywhere
    _, cache = bridge.run_with_cache(seq[None].to(DEVICE), names_filter=lambda name: name in names)
    T = len(seq)
    q = torch.arange(1, T)                 # query 0 attends only to itself: left out
    for l, name in enumerate(names):
        A = cache[name][0].detach().cpu().double()   # [head, query, key]
        rows = A[:, q]                               # [head, T - 1, key]
        sums["prev_token"][l] += A[:, q, q - 1].sum(-1)
        sums["first_token"][l] += A[:, q, 0].sum(-1)
        sums["self"][l] += A[:, q, q].sum(-1)
        plogp = torch.where(rows > 0, rows * rows.clamp_min(1e-300).log(), torch.zeros(()).double())
        sums["entropy"][l] += -plogp.sum(-1).sum(-1)  # nats, 0 ln 0 = 0
        if INDUCTION:                      # second copy's queries; key: after the previous occurrence
            qi = torch.arange(LENGTH + B, 2 * LENGTH + B)
            sums["induction"][l] += A[:, qi, qi - LENGTH + 1].sum(-1)
    query_positions += T - 1
    induction_positions += LENGTH if INDUCTION else 0

means = {s: (sums[s] / (induction_positions if s == "induction" else query_positions)).numpy()
         for s in SCORES}
recomputed = {"n_layers": n_layers, "n_heads": n_heads, "query_positions": query_positions}
if INDUCTION:
    recomputed["induction_positions"] = induction_positions
for s, m in means.items():
    hi, lo = int(np.argmax(m)), int(np.argmin(m))   # flat (layer, head) order: first on ties
    recomputed.update({
        f"{s}.max": float(m.max()), f"{s}.argmax_layer": hi // n_heads, f"{s}.argmax_head": hi % n_heads,
        f"{s}.min": float(m.min()), f"{s}.argmin_layer": lo // n_heads, f"{s}.argmin_head": lo % n_heads,
        f"{s}.mean": float(m.mean())})
    for head in HEADS:
        layer, h = (int(x) for x in head[1:].split(".H"))
        recomputed[f"{head}.{s}"] = float(m[layer, h])
recomputed
'''

HEADS_FIGURE = '''try:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=len(SCORES), subplot_titles=SCORES)
    for i, s in enumerate(SCORES, 1):
        hover = f"L%{{y}}.H%{{x}}: %{{z:.4f}}<extra>{s}</extra>"
        fig.add_trace(go.Heatmap(z=means[s], colorscale="Viridis", showscale=False, hovertemplate=hover),
                      row=1, col=i)
        fig.update_xaxes(title_text="head", dtick=1, row=1, col=i)
        fig.update_yaxes(title_text="layer" if i == 1 else None, dtick=1, autorange="reversed", row=1, col=i)
    fig.update_layout(title="Attention head scores").show()
except ImportError:
    for s in SCORES:
        print(s, means[s].round(4), sep="\\n")
'''


def attention_heads_compute(p: dict) -> str:
    rt = p.get("random_tokens") or {}
    induction = bool(rt.get("repeat"))
    return (f"HEADS = {list(p.get('heads') or [])!r}\n"
            f"INDUCTION = {induction!r}  # random tokens repeated twice: [BOS] r_1..r_len r_1..r_len\n"
            f"LENGTH = {rt.get('length')!r}\n"
            f"B = {1 if p.get('prepend_bos', True) else 0}  # 1 with a BOS token in front\n"
            + HEADS_BODY)


def attention_heads_figure(p: dict) -> str:
    return HEADS_FIGURE


HEADS_METHOD = (
    "Every layer's `hook_pattern` A[q, k] (query q, key k), each sequence run alone. Each score is "
    "a mean over every query position q >= 1 of every sequence, pooled: `prev_token` A[q, q-1], "
    "`first_token` A[q, 0], `self` A[q, q], `entropy` -Σ_k A[q, k] ln A[q, k] (nats, 0 ln 0 = 0); "
    "`induction` (repeated random tokens only) A[q, q - len + 1] over the second copy's queries "
    "q = len + b .. 2·len - 1 + b (b = 1 with BOS). Summaries: max, min and their head (the first "
    "in layer, then head order on ties) and the mean over all heads. All in float64.")
