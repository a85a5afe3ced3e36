"""Exact statistics of values streamed in batches, in bounded memory.

Moments are merged per batch in float64 (Chan et al.'s parallel update, so a large mean does
not cancel the variance away). Quantiles are exact order statistics: while the values number
at most KEEP_VALUES they are kept and sorted; beyond that, extra passes over the data narrow
each target rank down to one histogram bin of LEVEL_BINS bins at a time (bin membership is
the same float computation on every pass, so the counts nest exactly) until the bin holds at
most KEEP_VALUES values, which are then collected and sorted, or holds a single value.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Iterable

import torch

KEEP_VALUES = 4_000_000  # values kept in memory (float32 on the CPU: 16 MB) before extra passes
LEVEL_BINS = 4096        # bins per refinement level of the exact quantile search
MAX_LEVELS = 64

# make_pass(pass_number) -> iterator over (values, row_norms): 1-D tensors of one batch
PassFn = Callable[[int], Iterable[tuple[torch.Tensor, torch.Tensor]]]


class NonDeterministic(RuntimeError):
    """Two passes over the same inputs saw different values."""


class NoValues(RuntimeError):
    """The passes yielded no value at all."""


def rank_of(percent: int, n: int) -> int:
    """1-based rank ceil(percent * n / 100), at least 1 (integer arithmetic: exact)."""
    return max(1, (percent * n + 99) // 100)


def bin_index(v: torch.Tensor, lo: float, hi: float, bins: int) -> torch.Tensor:
    """floor((v - lo) / (hi - lo) * bins), clipped to [0, bins - 1]; all 0 when hi <= lo."""
    if not hi > lo:
        return torch.zeros(v.shape, dtype=torch.long, device=v.device)
    t = (v.double() - lo) * (bins / (hi - lo))
    return t.floor().clamp_(0, bins - 1).long()


def histogram_edges(lo: float, hi: float, bins: int) -> list[float]:
    """Fixed edges from lo to hi (one bin of width 1 around lo when all values are equal)."""
    if not hi > lo:
        return [lo - 0.5, lo + 0.5]
    return [lo + (hi - lo) * i / bins for i in range(bins)] + [hi]


@dataclass
class _Target:
    """The search for one rank: values < lo-chain's bins are `below`; `count` values remain."""

    rank: int
    count: int
    lo: float
    hi: float
    levels: list[tuple[float, float, int]] = field(default_factory=list)  # (lo, hi, bin)
    below: int = 0
    answer: float | None = None
    hist: torch.Tensor | None = None
    hmin: torch.Tensor | None = None
    hmax: torch.Tensor | None = None
    kept: list[torch.Tensor] = field(default_factory=list)

    def member(self, v: torch.Tensor) -> torch.Tensor:
        keep = torch.ones(v.shape, dtype=torch.bool, device=v.device)
        for lo, hi, i in self.levels:
            keep &= bin_index(v, lo, hi, LEVEL_BINS) == i
        return keep


@dataclass
class StreamResult:
    stats: dict
    edges: list[float]
    counts: list[int]
    passes: int


def _select_sorted(values: list[torch.Tensor]) -> torch.Tensor:
    return torch.cat(values).double().sort().values if values else torch.empty(0, dtype=torch.float64)


def stream_stats(make_pass: PassFn, bins: int, percents: dict[str, int]) -> StreamResult:
    """count, mean, std (population), min, max, the exact quantiles `percents` ({name: percent},
    the value of rank ceil(p n / 100)), frac_positive, mean_norm, and a histogram of `bins`
    fixed bins from min to max. NoValues when there are none."""
    n, mean, m2, positive, norm_sum, rows = 0, 0.0, 0.0, 0, 0.0, 0
    lo, hi = math.inf, -math.inf
    kept: list[torch.Tensor] | None = []
    kept_n = 0
    for values, norms in make_pass(1):
        v = values.double().flatten()
        if v.numel():
            nb = v.numel()
            mb = float(v.mean())
            m2b = float(((v - mb) ** 2).sum())
            delta, total = mb - mean, n + nb
            mean += delta * nb / total
            m2 += m2b + delta * delta * n * nb / total
            n = total
            lo, hi = min(lo, float(v.min())), max(hi, float(v.max()))
            positive += int((v > 0).sum())
            if kept is not None:
                kept_n += nb
                if kept_n <= KEEP_VALUES:
                    kept.append(values.detach().flatten().cpu())
                else:
                    kept = None
        norm_sum += float(norms.double().sum())
        rows += norms.numel()
    if n == 0:
        raise NoValues("no values to count")
    stats = {"count": n, "mean": mean, "std": math.sqrt(max(m2, 0.0) / n), "min": lo, "max": hi,
             "frac_positive": positive / n, "mean_norm": norm_sum / rows if rows else 0.0}
    edges = histogram_edges(lo, hi, bins)
    nbins = len(edges) - 1
    passes = 1
    if kept is not None:
        ordered = _select_sorted(kept)
        del kept
        for name, p in percents.items():
            stats[name] = float(ordered[rank_of(p, n) - 1])
        counts = torch.bincount(bin_index(ordered, lo, hi, nbins), minlength=nbins)
        return StreamResult(stats, edges, counts.tolist(), passes)

    targets = {name: _Target(rank_of(p, n), n, lo, hi) for name, p in percents.items()}
    counts = None
    while any(t.answer is None for t in targets.values()):
        passes += 1
        if passes > MAX_LEVELS:
            raise NonDeterministic("the exact quantile search did not converge")
        open_ = [t for t in targets.values() if t.answer is None]
        for t in open_:
            t.hist = t.hmin = t.hmax = None
            t.kept = []
        fig = None
        seen = 0
        for values, _ in make_pass(passes):
            v = values.double().flatten()
            seen += v.numel()
            if counts is None:
                b = torch.bincount(bin_index(v, lo, hi, nbins), minlength=nbins)
                fig = b if fig is None else fig + b
            for t in open_:
                sel = v[t.member(v)]
                if t.count <= KEEP_VALUES:
                    t.kept.append(sel.cpu())
                    continue
                idx = bin_index(sel, t.lo, t.hi, LEVEL_BINS)
                h = torch.bincount(idx, minlength=LEVEL_BINS)
                full = torch.full((LEVEL_BINS,), math.inf, dtype=torch.float64, device=v.device)
                mn = full.scatter_reduce(0, idx, sel, "amin")
                mx = (-full).scatter_reduce(0, idx, sel, "amax")
                t.hist = h if t.hist is None else t.hist + h
                t.hmin = mn if t.hmin is None else torch.minimum(t.hmin, mn)
                t.hmax = mx if t.hmax is None else torch.maximum(t.hmax, mx)
        if seen != n:
            raise NonDeterministic(f"pass {passes} saw {seen} values, the first {n}")
        if counts is None:
            counts = fig.tolist()
        for t in open_:
            _advance(t, passes)
    for name, t in targets.items():
        stats[name] = t.answer
    return StreamResult(stats, edges, counts, passes)


def _advance(t: _Target, passes: int) -> None:
    """Resolve `t` from the pass just made, or narrow it to the bin holding its rank."""
    want = t.rank - t.below  # 1-based rank within the remaining values
    if t.count <= KEEP_VALUES:
        ordered = _select_sorted(t.kept)
        t.kept = []
        if ordered.numel() != t.count:
            raise NonDeterministic(f"pass {passes} found {ordered.numel()} values in a bin "
                                   f"that held {t.count}")
        t.answer = float(ordered[want - 1])
        return
    hist = t.hist.cpu()
    if int(hist.sum()) != t.count:
        raise NonDeterministic(f"pass {passes} found {int(hist.sum())} values in a bin that held {t.count}")
    cum = hist.cumsum(0)
    i = int(torch.searchsorted(cum, torch.tensor(want)))  # first bin with cum >= want
    t.below += int(cum[i - 1]) if i > 0 else 0
    t.count = int(hist[i])
    t.levels.append((t.lo, t.hi, i))
    bmin, bmax = float(t.hmin[i]), float(t.hmax[i])
    if bmin == bmax:
        t.answer = bmin
    t.lo, t.hi = bmin, bmax

