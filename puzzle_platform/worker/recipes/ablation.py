"""Runner of the `ablation` recipe: next-token loss, clean and with components ablated.

A head is ablated at its `blocks.L.attn.hook_z` slice (its z, before W_O: the rest of the
attention output, b_O included, is untouched); an MLP at `blocks.L.hook_mlp_out`. Streamed:
pass 1 takes the clean loss (and, for mean ablation, float64 sums of each hooked activation
over real positions); pass 2 runs every ablation on each batch. Resample ablation runs the
batch's partner sequences first and patches their activations in at the same positions.
"""
from __future__ import annotations

from typing import Any, Callable

import plotly.graph_objects as go
import torch

from ...recipes import RecipeError
from ...recipes.ablation import SPEC, parse_component
from ..figures import finish
from ..inputs import Batch, Tokens, batches, build_tokens, default_batch_size
from ..models_runtime import load_bridge
from ._common import ProgressFn, provenance, reporter, shown_model

RECIPE_VERSION = "ablation/1"  # bump whenever the maths or conventions change
LOSS_CHUNK = 4096  # positions per float64 log-softmax


def hook_name(layer: int, head: int | None) -> str:
    return f"blocks.{layer}.attn.hook_z" if head is not None else f"blocks.{layer}.hook_mlp_out"


def loss_sum(logits: torch.Tensor, ids: torch.Tensor, mask: torch.Tensor) -> tuple[float, int]:
    """(sum of next-token cross-entropies in nats, count) over positions t with t+1 real."""
    keep = mask[:, 1:]
    flat = logits[:, :-1][keep]
    labels = ids[:, 1:][keep]
    total = torch.zeros((), dtype=torch.float64, device=logits.device)
    for s in range(0, flat.shape[0], LOSS_CHUNK):
        lp = flat[s:s + LOSS_CHUNK].double().log_softmax(-1)
        total -= lp.gather(-1, labels[s:s + LOSS_CHUNK, None]).sum()
    return float(total), int(keep.sum())


def resample_sources(lengths: torch.Tensor, seed: int) -> torch.Tensor:
    """source[i] = the sequence whose activations replace sequence i's: within each group of
    equal length (groups in increasing length), a seeded shuffle of the group, each taking
    the next one's in that order (cyclically), so no sequence is its own source."""
    gen = torch.Generator().manual_seed(seed)
    source = torch.empty(len(lengths), dtype=torch.long)
    for n in sorted(set(lengths.tolist())):
        members = (lengths == n).nonzero()[:, 0]
        if len(members) < 2:
            raise RecipeError(
                f"ablation: method = resample takes each input's activations from another input "
                f"of the same token length, but input {int(members[0])} is the only one of "
                f"{n} tokens: use random_tokens, or prompts of equal token lengths")
        order = members[torch.randperm(len(members), generator=gen)]
        source[order] = order.roll(-1)
    return source


def _check_components(bridge: Any, names: list[str]) -> list[tuple[str, int, int | None]]:
    n_layers, n_heads = int(bridge.cfg.n_layers), int(bridge.cfg.n_heads)
    out = []
    for name in names:
        layer, head = parse_component(name)
        if layer >= n_layers:
            raise RecipeError(f"ablation: component {name!r}: the model has {n_layers} layers "
                              f"(L0 .. L{n_layers - 1})")
        if head is not None and head >= n_heads:
            raise RecipeError(f"ablation: component {name!r}: the model has {n_heads} heads per "
                              f"layer (H0 .. H{n_heads - 1})")
        out.append((name, layer, head))
    return out


def _hooks(group: list[tuple[str, int, int | None]], method: str, means: dict,
           source: dict | None) -> list[tuple[str, Callable]]:
    """Forward hooks replacing each component of `group` (those sharing a hook in one hook)."""
    by_hook: dict[str, list[int | None]] = {}
    for _, layer, head in group:
        by_hook.setdefault(hook_name(layer, head), []).append(head)

    def make(name: str, heads: list[int | None]) -> Callable:
        def hook(act: torch.Tensor, hook: Any = None) -> torch.Tensor:
            act = act.clone()
            for h in heads:
                index = (slice(None), slice(None), h) if h is not None else (Ellipsis,)
                if method == "zero":
                    act[index] = 0
                elif method == "mean":
                    act[index] = (means[name][h] if h is not None else means[name]).to(act.dtype)
                else:
                    act[index] = source[name][index].to(act.dtype)
            return act
        return hook
    return [(name, make(name, heads)) for name, heads in by_hook.items()]


def _figure(labels: list[str], deltas: list[float], title: str, caption: str) -> dict:
    colours = ["#7f7f7f" if label == "all" else "#1f77b4" for label in labels]
    fig = go.Figure(go.Bar(x=labels, y=deltas, marker_color=colours,
                           hovertemplate="%{x}<br>delta %{y:.4f} nats<extra></extra>"))
    return finish(fig, title, caption, -0.28, 110, xaxis={"title": "ablated component", "type": "category"},
                  yaxis={"title": "loss increase (nats)"})


def _sources(tokens: Tokens, batch: Batch, source: torch.Tensor, bridge: Any,
             names: list[str]) -> dict:
    """The hooked activations of the batch's partner sequences (same lengths, same width)."""
    idx = source[batch.start:batch.start + batch.ids.shape[0]]
    ids = tokens.ids[idx, :batch.ids.shape[1]].to(batch.ids.device)
    _, cache = bridge.run_with_cache(ids, names_filter=lambda n: n in names)
    return {n: cache[n] for n in names}


def run(params: dict, progress: ProgressFn | None = None) -> dict:
    """Artifact {statistics, figure, provenance}; progress(pct, stage) may raise to cancel."""
    p = SPEC.validate_params(params)
    report = progress or (lambda pct, stage: None)
    report(0, "loading model")
    loaded = load_bridge(p["model"], weights=p["weights"], device=p["device"], revision=p["revision"])
    bridge = loaded.bridge
    comps = _check_components(bridge, p["components"])
    tokens = build_tokens(bridge, p)
    method = p["method"]
    source = resample_sources(tokens.lengths, p["seed"]) if method == "resample" else None
    groups = [(name, [c]) for c, name in zip(comps, p["components"])]
    if p["together"] and len(comps) > 1:
        groups.append(("all", comps))
    names = sorted({hook_name(layer, head) for _, layer, head in comps})
    n_batches = -(-int(tokens.ids.shape[0]) // (p["batch_size"] or default_batch_size(
        bridge, int(tokens.ids.shape[1]))))
    per_batch = len(groups) + (method == "resample")  # forward passes of pass 2 per batch
    passes = n_batches * (1 + per_batch)
    step, done = reporter(progress, 5, 95), 0

    clean, count = 0.0, 0
    sums = {n: None for n in names}
    with torch.no_grad():
        # pass 1: the clean loss, and the float64 sums the means need
        for batch in batches(tokens, p["batch_size"], bridge, loaded.device):
            if method == "mean":
                logits, cache = bridge.run_with_cache(batch.ids, names_filter=lambda n: n in names)
                for n in names:
                    part = cache[n][batch.mask].double().sum(dim=0)
                    sums[n] = part if sums[n] is None else sums[n] + part
                del cache
            else:
                logits = bridge(batch.ids)
            s, c = loss_sum(logits, batch.ids, batch.mask)
            clean, count = clean + s, count + c
            del logits
            done += 1
            step(done, passes, "clean pass")
        if count == 0:
            raise RecipeError("ablation: no position has a next token (every input is one token "
                              "long), so there is no loss to measure")
        n_real = int(tokens.lengths.sum())
        means = {n: sums[n] / n_real for n in names} if method == "mean" else {}

        ablated = {label: 0.0 for label, _ in groups}
        # pass 2: every ablation of each batch
        for batch in batches(tokens, p["batch_size"], bridge, loaded.device):
            src = _sources(tokens, batch, source, bridge, names) if method == "resample" else None
            for label, group in groups:
                logits = bridge.run_with_hooks(batch.ids, fwd_hooks=_hooks(group, method, means, src))
                ablated[label] += loss_sum(logits, batch.ids, batch.mask)[0]
                del logits
            del src
            done += per_batch
            step(done, passes, "ablated passes")

    loss_clean = clean / count
    stats: dict[str, float | int] = {"loss_clean": loss_clean, "positions": count}
    for label, _ in groups:
        stats[f"{label}.loss_ablated"] = ablated[label] / count
        stats[f"{label}.delta"] = ablated[label] / count - loss_clean
    if p["together"] and len(comps) == 1:
        stats["all.loss_ablated"] = stats[f"{p['components'][0]}.loss_ablated"]
        stats["all.delta"] = stats[f"{p['components'][0]}.delta"]
    if p["together"] or len(comps) == 1:
        both = "all" if p["together"] else p["components"][0]
        stats["loss_ablated"], stats["delta"] = stats[f"{both}.loss_ablated"], stats[f"{both}.delta"]

    labels = [label for label, _ in groups] + (["all"] if p["together"] and len(comps) == 1 else [])
    caption = " · ".join([shown_model(loaded, p), f"{method} ablation", f"{p['weights']} weights",
                          f"clean loss {loss_clean:.4f} nats over {count:,} next-token positions",
                          f"{tokens.provenance['sequences']:,} sequences"]
                         + ([f"resample seed {p['seed']}"] if method == "resample" else []))
    report(97, "figure")
    figure = _figure(labels, [stats[f"{label}.delta"] for label in labels],
                     f"Loss increase when ablating ({method}): {shown_model(loaded, p)}", caption)
    report(100, "done")
    return {"statistics": stats, "figure": figure,
            "provenance": provenance(loaded, p, RECIPE_VERSION, tokens, method=method,
                                     components=p["components"], together=p["together"],
                                     seed=p["seed"], hooks=names, caption=caption)}
