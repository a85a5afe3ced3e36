"""Notebook code for `logit_lens` and `logit_attribution` (torch-free: this is only text).

Written to be read by a scholar and to share nothing with the worker but the definitions: each
prompt runs alone through `run_with_cache` (its last token is position -1), and the final norm
and unembedding are written out by hand in float64 from the bridge's weights and config.
"""
from __future__ import annotations

# The readout written out: the final norm (LayerNorm centres, RMSNorm does not; the scale is
# recomputed from the vector it normalises), then W_U and b_U, then a soft cap if the model has one.
READOUT = '''
cfg = bridge.cfg
W_U, b_U = bridge.W_U.detach().cpu().double(), bridge.b_U.detach().cpu().double()
ln = getattr(bridge, "ln_final", None)
NORM = cfg.normalization_type if ln is not None else None  # "LN", "LNPre", "RMS", "RMSPre" or None
CENTRES = NORM in ("LN", "LNPre")
ln_w = getattr(ln, "w", None) if ln is not None else None
ln_b = getattr(ln, "b", None) if ln is not None else None
ln_w = ln_w.detach().cpu().double() if isinstance(ln_w, torch.Tensor) else torch.ones(cfg.d_model).double()
ln_b = ln_b.detach().cpu().double() if isinstance(ln_b, torch.Tensor) else torch.zeros(cfg.d_model).double()


def centre(x):
    return x - x.mean(-1, keepdim=True) if CENTRES else x


def norm_scale(x):
    """The final norm's scale of residual vectors x [..., d_model] (1 without a norm)."""
    if NORM is None:
        return torch.ones(x.shape[:-1] + (1,), dtype=x.dtype)
    return (centre(x).pow(2).mean(-1, keepdim=True) + cfg.eps).sqrt()


def read_out(x):
    """Logits of residual vectors x [..., d_model] (float64): final norm with x's own scale, W_U, b_U."""
    h = centre(x) / norm_scale(x) * ln_w + ln_b if NORM is not None else x
    logits = h @ W_U + b_U
    cap = getattr(cfg, "output_logits_soft_cap", -1.0) or -1.0
    return cap * torch.tanh(logits / cap) if cap > 0 else logits


def one_token(strings, what):
    ids = []
    for i, s in enumerate(strings):
        row = bridge.to_tokens(s, prepend_bos=False, truncate=False)[0]
        assert len(row) == 1, f"{what}[{i}] {s!r} is {len(row)} tokens, not one"
        ids.append(int(row[0]))
    return ids
'''

LENS_BODY = '''
import numpy as np

n_layers = int(cfg.n_layers)
labels = ["L0"]                            # residual points in order, with their hooks
hooks = {"L0": "blocks.0.hook_resid_pre"}
for l in range(n_layers):
    if INCL_MID:
        labels.append(f"L{l}_mid")
        hooks[f"L{l}_mid"] = f"blocks.{l}.hook_resid_mid"
    labels.append(f"L{l + 1}")
    hooks[f"L{l + 1}"] = f"blocks.{l}.hook_resid_post"
target_ids = one_token(TARGETS, "targets")
print("target ids:", target_ids)

rows = {label: [] for label in labels + ["final"]}  # per prompt: (logit, prob, rank)
worst = 0.0
for seq, t in zip(sequences, target_ids):  # each prompt alone: its last token is position -1
    logits, cache = bridge.run_with_cache(seq[None].to(DEVICE),
                                          names_filter=lambda name: name in hooks.values())
    own = logits[0, -1].detach().cpu().double()
    for label in labels + ["final"]:
        lg = own if label == "final" else read_out(cache[hooks[label]][0, -1].detach().cpu().double())
        prob = float(torch.softmax(lg, -1)[t])
        rows[label].append((float(lg[t]), prob, int((lg > lg[t]).sum())))
    by_hand = read_out(cache[hooks[f"L{n_layers}"]][0, -1].detach().cpu().double())
    worst = max(worst, float((torch.log_softmax(by_hand, -1) - torch.log_softmax(own, -1)).abs().max()))
print(f"reading the last residual by hand gives the model's own log-probabilities to {worst:.2g}")

recomputed = {}
for label, per_prompt in rows.items():
    logit, prob, rank = np.mean(np.array(per_prompt, dtype=np.float64), axis=0)
    recomputed.update({f"{label}.logit": float(logit), f"{label}.prob": float(prob),
                       f"{label}.rank": float(rank)})
top_everywhere = [all(r[2] == 0 for r in rows[f"L{l}"]) for l in range(n_layers + 1)]
recomputed["first_top1_layer"] = top_everywhere.index(True) if any(top_everywhere) else -1
recomputed
'''

LENS_FIGURE = '''x = [int(s[1:].split("_")[0]) + (0.5 if s.endswith("_mid") else 0) for s in labels]
try:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=2, cols=1, shared_xaxes=True,
                        subplot_titles=("mean probability of the target",
                                        "mean rank of the target (0 = top)"))
    for row, measure in ((1, "prob"), (2, "rank")):
        fig.add_trace(go.Scatter(x=x, y=[recomputed[f"{s}.{measure}"] for s in labels], text=labels,
                                 mode="lines+markers", name=measure), row=row, col=1)
    fig.update_xaxes(title_text="layer (0 = embeddings; .5 = resid_mid)", dtick=1, row=2, col=1)
    fig.update_layout(title="Logit lens", showlegend=False).show()
except ImportError:
    for s in labels:
        print(s, recomputed[f"{s}.prob"], recomputed[f"{s}.rank"])
'''


def logit_lens_compute(p: dict) -> str:
    return (f"TARGETS = {p['targets']!r}  # one token each, the next token of each prompt\n"
            f"INCL_MID = {bool(p.get('incl_mid'))!r}\n" + READOUT + LENS_BODY)


def logit_lens_figure(p: dict) -> str:
    return LENS_FIGURE


LENS_METHOD = (
    "Each prompt runs alone; at its last token the residual after `l` blocks (`L0`: "
    "`blocks.0.hook_resid_pre`; `L{l}`: `blocks.{l-1}.hook_resid_post`; with `INCL_MID` also "
    "`blocks.{l}.hook_resid_mid`) is read through the final norm, its scale recomputed from that "
    "residual, and the unembedding, written out by hand in float64 (`read_out`). Per point: the "
    "target's logit, its softmax probability over the full vocabulary and its rank (tokens with a "
    "strictly larger logit), each a mean over prompts; `final.*` from the model's own logits; "
    "`first_top1_layer` the first `l` where the target is top for every prompt (-1 if none). A "
    "norm this hand-written readout does not know (an offset RMSNorm weight, say) shows up in the "
    "printed agreement with the model's own log-probabilities.")


ATTRIBUTION_BODY = '''
import numpy as np

n_layers, n_heads = int(cfg.n_layers), int(cfg.n_heads)
W_O = bridge.W_O.detach().cpu().double()   # [layer, head, d_head, d_model]
b_O = getattr(bridge, "b_O", None)
b_O = (b_O.detach().cpu().double() if isinstance(b_O, torch.Tensor)
       else torch.zeros(n_layers, cfg.d_model).double())  # no attention output bias
correct, incorrect = one_token(CORRECT, "correct"), one_token(INCORRECT, "incorrect")
names = (["hook_embed", "hook_pos_embed", f"blocks.{n_layers - 1}.hook_resid_post"]
         + [f"blocks.{l}.attn.hook_z" for l in range(n_layers)]
         + [f"blocks.{l}.hook_mlp_out" for l in range(n_layers)])

per_prompt, totals = [], []
for seq, c, i in zip(sequences, correct, incorrect):   # each prompt alone: last token at -1
    logits, cache = bridge.run_with_cache(seq[None].to(DEVICE), names_filter=lambda name: name in names)
    last = lambda name: cache[name][0, -1].detach().cpu().double()  # noqa: E731
    s = norm_scale(last(f"blocks.{n_layers - 1}.hook_resid_post"))  # frozen at the full residual
    d = (W_U[:, c] - W_U[:, i]) * ln_w                     # the logit difference's direction

    def dla(x):                            # direct contribution of vectors x [..., d_model]
        return (centre(x) / s) @ d

    parts = {"embed": float(dla(last("hook_embed"))),
             "pos_embed": float(dla(last("hook_pos_embed"))) if "hook_pos_embed" in cache else 0.0}
    for l in range(n_layers):
        heads = torch.einsum("hd,hdm->hm", last(f"blocks.{l}.attn.hook_z"), W_O[l])  # each head's output
        parts.update({f"L{l}.H{h}": float(v) for h, v in enumerate(dla(heads))})
        parts[f"L{l}.attn_bias"] = float(dla(b_O[l]))
        parts[f"L{l}.mlp"] = float(dla(last(f"blocks.{l}.hook_mlp_out")))
    parts["final_bias"] = float(ln_b @ (W_U[:, c] - W_U[:, i]) + b_U[c] - b_U[i])
    per_prompt.append(parts)
    own = logits[0, -1].detach().cpu().double()
    totals.append(float(own[c] - own[i]))

recomputed = {k: float(np.mean([p[k] for p in per_prompt])) for k in per_prompt[0]}
recomputed["sum_of_components"] = float(sum(recomputed.values()))
recomputed["total"] = float(np.mean(totals))
print(f"the components add up to {recomputed['sum_of_components']:.6g}; the model's logit difference: "
      f"{recomputed['total']:.6g}")
recomputed
'''

ATTRIBUTION_FIGURE = '''z = [[recomputed[f"L{l}.H{h}"] for h in range(n_heads)] for l in range(n_layers)]
others = [k for k in recomputed
          if not (k.startswith("L") and ".H" in k) and k not in ("sum_of_components", "total")]
try:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, subplot_titles=("heads (layer × head)", "embeddings, biases, MLPs"))
    fig.add_trace(go.Heatmap(z=z, colorscale="RdBu", zmid=0,
                             hovertemplate="L%{y}.H%{x}: %{z:.4g}<extra></extra>"), row=1, col=1)
    fig.add_trace(go.Bar(x=others, y=[recomputed[k] for k in others]), row=1, col=2)
    fig.update_xaxes(title_text="head", dtick=1, row=1, col=1)
    fig.update_yaxes(title_text="layer", dtick=1, autorange="reversed", row=1, col=1)
    fig.update_layout(title="Direct logit attribution", showlegend=False).show()
except ImportError:
    print(np.round(np.array(z), 4), {k: round(recomputed[k], 4) for k in others}, sep="\\n")
'''


def logit_attribution_compute(p: dict) -> str:
    return (f"CORRECT = {p['correct']!r}\nINCORRECT = {p['incorrect']!r}\n" + READOUT
            + ATTRIBUTION_BODY)


def logit_attribution_figure(p: dict) -> str:
    return ATTRIBUTION_FIGURE


ATTRIBUTION_METHOD = (
    "Each prompt runs alone. At its last token the final norm's scale s is computed from the full "
    "residual (`blocks.{n_layers-1}.hook_resid_post`) and frozen, which makes the readout linear: "
    "a component's vector x (`hook_embed`, `hook_pos_embed`, each head's `hook_z` times its `W_O`, "
    "each block's `b_O` and `hook_mlp_out`) contributes (P(x) / s) · (w ⊙ (W_U[:, correct] - "
    "W_U[:, incorrect])), P the norm's centring (none for RMSNorm) and w its weight; "
    "`final_bias` is b · (W_U[:, correct] - W_U[:, incorrect]) + b_U[correct] - b_U[incorrect]. "
    "Each statistic is a mean over prompts, in float64; `total` is the model's own logit "
    "difference, which the components add up to.")


ABLATION_BODY = '''
import numpy as np

n_layers, n_heads = int(bridge.cfg.n_layers), int(bridge.cfg.n_heads)


def parse(component):                      # "L3.H7" -> (hook, 7); "L3.mlp" -> (hook, None)
    layer, part = component[1:].split(".", 1)
    if part == "mlp":
        return f"blocks.{layer}.hook_mlp_out", None
    return f"blocks.{layer}.attn.hook_z", int(part[1:])


hook_names = sorted({parse(c)[0] for c in COMPONENTS})


def loss_sum(logits, seq):
    """Sum over positions t = 0 .. n-2 of -ln softmax(logits[t])[seq[t + 1]] (nats, float64)."""
    logp = logits[0, :-1].detach().cpu().double().log_softmax(-1)
    return float(-logp[torch.arange(len(seq) - 1), seq[1:]].sum())


# the clean loss, and each hooked activation of each sequence (for the mean and resample methods)
clean, positions, acts = 0.0, 0, []
for seq in sequences:                      # each sequence alone: no padding anywhere
    logits, cache = bridge.run_with_cache(seq[None].to(DEVICE), names_filter=lambda n: n in hook_names)
    clean += loss_sum(logits, seq)
    positions += len(seq) - 1
    acts.append({n: cache[n][0].detach() for n in hook_names})
means = {n: torch.cat([a[n] for a in acts]).double().mean(0) for n in hook_names}  # over every real position

source = list(range(len(sequences)))       # resample: whose activations each sequence gets
if METHOD == "resample":
    gen = torch.Generator().manual_seed(SEED)
    lengths = torch.tensor([len(s) for s in sequences])
    for n in sorted(set(lengths.tolist())):   # within each length, a seeded shuffle; each takes the next's
        members = (lengths == n).nonzero()[:, 0]
        assert len(members) > 1, f"sequence {int(members[0])} is the only one of {n} tokens"
        order = members[torch.randperm(len(members), generator=gen)]
        for a, b in zip(order.tolist(), order.roll(-1).tolist()):
            source[a] = b


def ablated_loss(group):
    """The summed loss over every sequence with each component of `group` replaced."""
    def replacing(name, k):                # the hook on `name` while sequence k runs
        heads = [head for c in group for n, head in [parse(c)] if n == name]

        def replace(act, hook):
            act = act.clone()
            for head in heads:
                where = (0, slice(None), head) if head is not None else (0,)
                if METHOD == "zero":
                    act[where] = 0
                elif METHOD == "mean":
                    act[where] = (means[name][head] if head is not None else means[name]).to(act.dtype)
                else:
                    act[where] = acts[source[k]][name][where[1:]].to(act.dtype)
            return act
        return replace

    total = 0.0
    names = sorted({parse(c)[0] for c in group})
    for k, seq in enumerate(sequences):
        logits = bridge.run_with_hooks(seq[None].to(DEVICE), fwd_hooks=[(n, replacing(n, k)) for n in names])
        total += loss_sum(logits, seq)
    return total


loss_clean = clean / positions
recomputed = {"loss_clean": loss_clean, "positions": positions}
groups = {c: [c] for c in COMPONENTS}
if TOGETHER:
    groups["all"] = list(COMPONENTS)
for label, group in groups.items():
    loss = ablated_loss(group) / positions
    recomputed[f"{label}.loss_ablated"], recomputed[f"{label}.delta"] = loss, loss - loss_clean
if TOGETHER or len(COMPONENTS) == 1:
    both = "all" if TOGETHER else COMPONENTS[0]
    recomputed["loss_ablated"] = recomputed[f"{both}.loss_ablated"]
    recomputed["delta"] = recomputed[f"{both}.delta"]
recomputed
'''

ABLATION_FIGURE = '''try:
    import plotly.graph_objects as go
    go.Figure(go.Bar(x=list(groups), y=[recomputed[f"{g}.delta"] for g in groups]),
              layout={"title": f"Loss increase when ablating ({METHOD})", "xaxis_type": "category",
                      "yaxis_title": "loss increase (nats)"}).show()
except ImportError:
    print({g: recomputed[f"{g}.delta"] for g in groups})
'''


def ablation_compute(p: dict) -> str:
    return (f"COMPONENTS = {list(p['components'])!r}  # a head's z (before W_O), or an MLP's output\n"
            f"METHOD, TOGETHER, SEED = {p.get('method', 'zero')!r}, {bool(p.get('together'))!r}, "
            f"{p.get('seed')!r}\n" + ABLATION_BODY)


def ablation_figure(p: dict) -> str:
    return ABLATION_FIGURE


ABLATION_METHOD = (
    "Each sequence runs alone. The loss is the mean next-token cross-entropy (nats, float64 "
    "log-softmax) over positions t = 0 .. n-2 of every sequence. A head is ablated at its slice of "
    "`blocks.L.attn.hook_z` (b_O stays), an MLP at `blocks.L.hook_mlp_out`: by zero, by the "
    "component's mean over every position of every sequence, or (resample) by its activation at "
    "the same position of another sequence of the same length, paired by a seeded shuffle within "
    "each length (`torch.randperm`, each taking the next one's, cyclically). Each component alone, "
    "and all at once with `TOGETHER`.")
