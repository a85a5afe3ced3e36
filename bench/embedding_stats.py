"""Benchmark: statistics and histograms of a 50257 x 768 GPT-Neo-like matrix (a large common
mean, cosines crowded near 0.9), on CPU and, when CUDA is available, on the GPU.

Rows: closed-form statistics (float64); the exact histogram of every pair (int64 counts, via
the worker's code); the original puzzle's method (5,000 tokens drawn with torch.randint, the
25M raw cosines handed to plotly.express.histogram, figure serialised to JSON).
Memory: GPU = torch.cuda.max_memory_allocated above the start; CPU = peak resident set size
above the start, sampled every 2 ms (torch's CPU allocations are invisible to tracemalloc).

    python bench/embedding_stats.py [--full | --cpu-exact-rows N] [--no-cpu] [--no-gpu]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import threading
import time
from pathlib import Path
from typing import Callable

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from puzzle_platform.worker.embedding_stats import closed_form_stats, exact_histogram  # noqa: E402
from puzzle_platform.worker.figures import Convention, histogram_figure  # noqa: E402

PAGE = os.sysconf("SC_PAGE_SIZE")


def _rss() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * PAGE


class PeakRss(threading.Thread):
    """Samples the resident set size every 2 ms until stopped; .peak is the maximum seen."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.start_rss = self.peak = _rss()
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.wait(0.002):
            self.peak = max(self.peak, _rss())

    def stop(self) -> int:
        self._halt.set()
        self.join()
        return max(self.peak, _rss()) - self.start_rss


def measure(fn: Callable[[], object], device: str) -> tuple[float, int, object]:
    """(seconds, peak bytes above the start, fn's result)."""
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        start = time.perf_counter()
        out = fn()
        torch.cuda.synchronize()
        return time.perf_counter() - start, torch.cuda.max_memory_allocated() - base, out
    sampler = PeakRss()
    sampler.start()
    start = time.perf_counter()
    out = fn()
    seconds = time.perf_counter() - start
    return seconds, sampler.stop(), out


def neo_like(n: int, d: int, device: str, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    X = 0.1 * torch.randn(n, d, generator=g) + 0.3 * torch.randn(d, generator=g)
    return X.to(device)


def exact_figure_bytes(edges: list[float], counts: list[int], n: int) -> int:
    conv = Convention("bench", "bench", "W_E", "raw", False, False, n)
    return len(json.dumps(histogram_figure(edges, counts, conv)).encode())


def original_method(X: torch.Tensor) -> int:
    """The original puzzle: 5,000 random tokens, all 25M cosines to plotly.express; JSON bytes."""
    import plotly.express as px
    U = X / X.norm(dim=-1, keepdim=True)
    idx = torch.randint(0, X.shape[0], (5000,), device=X.device)
    cos = (U[idx] @ U[idx].T).flatten().cpu().numpy()
    return len(px.histogram(cos).to_json().encode())


def bench_device(device: str, n: int, d: int, exact_rows: int | None) -> list[dict]:
    X = neo_like(n, d, device)
    if device == "cuda":  # warm up cuBLAS and the allocator so timings are of the work
        exact_histogram(X[:2048], 200)
        closed_form_stats(X[:2048])
    rows = []
    sec, mem, stats = measure(lambda: closed_form_stats(X), device)
    rows.append({"device": device, "method": "closed-form statistics (float64)", "seconds": sec,
                 "peak_bytes": mem, "figure_bytes": None,
                 "note": f"mean_cos {stats['mean_cos']:.4f}, centred not included"})
    m = n if exact_rows is None or exact_rows >= n else exact_rows
    sec, mem, (edges, counts) = measure(lambda: exact_histogram(X[:m], 200), device)
    note = f"{sum(counts):,} pairs counted"
    if m < n:
        factor = (n * (n - 1)) / (m * (m - 1))
        note = f"EXTRAPOLATED x{factor:.1f} from {m} rows ({sum(counts):,} pairs, {sec:.1f} s)"
        sec *= factor
    rows.append({"device": device, "method": f"exact histogram, all n(n-1) = {n * (n - 1):,} pairs",
                 "seconds": sec, "peak_bytes": mem,
                 "figure_bytes": exact_figure_bytes(edges, counts, m), "note": note})
    sec, mem, size = measure(lambda: original_method(X), device)
    rows.append({"device": device, "method": "original: 5000-token sample, px.histogram of 25M",
                 "seconds": sec, "peak_bytes": mem, "figure_bytes": size,
                 "note": "plotly on CPU; with replacement, unseeded"})
    return rows


def table(rows: list[dict]) -> str:
    lines = ["| device | method | seconds | peak memory | figure JSON | note |",
             "| --- | --- | ---: | ---: | ---: | --- |"]
    for r in rows:
        fig = "-" if r["figure_bytes"] is None else f"{r['figure_bytes']:,} B"
        lines.append(f"| {r['device']} | {r['method']} | {r['seconds']:.2f} | "
                     f"{r['peak_bytes'] / 2**20:,.0f} MiB | {fig} | {r['note']} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=50257)
    ap.add_argument("--d", type=int, default=768)
    ap.add_argument("--cpu-exact-rows", type=int, default=12000,
                    help="CPU exact histogram on this many rows, extrapolated by pair count")
    ap.add_argument("--full", action="store_true", help="CPU exact histogram of all rows")
    ap.add_argument("--no-cpu", action="store_true")
    ap.add_argument("--no-gpu", action="store_true")
    ap.add_argument("--json", type=Path, help="also write the rows here")
    args = ap.parse_args()
    rows: list[dict] = []
    if not args.no_cpu:
        rows += bench_device("cpu", args.n, args.d, None if args.full else args.cpu_exact_rows)
    gpu = torch.cuda.is_available() and not args.no_gpu
    if gpu:
        rows += bench_device("cuda", args.n, args.d, None)
    where = torch.cuda.get_device_name() if gpu else "no GPU rows (CUDA unavailable or --no-gpu)"
    print(f"{args.n} x {args.d} GPT-Neo-like float32 · {os.cpu_count()} CPU cores "
          f"({platform.processor() or platform.machine()}), torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads · {where}")
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
