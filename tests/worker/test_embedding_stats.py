"""Closed forms and exact histograms against a float64 brute force (the full n x n matrix)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from puzzle_platform.worker.embedding_stats import (bin_of, closed_form_stats, exact_fp32,
                                                    exact_histogram, histogram_edges,
                                                    sample_rows, sampled_histogram)


def _random(n: int, d: int, seed: int, mean_scale: float = 0.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=g)
    if mean_scale:  # GPT-Neo-like: one huge common direction, cosines crowd near 0.9
        X = 0.3 * X + mean_scale * torch.randn(d, generator=g)
    return X


CASES = {
    "isotropic": _random(301, 24, 1),
    "neo_like": _random(400, 64, 2, mean_scale=1.0),
    "n2": _random(2, 8, 3),
    "zero_rows": torch.cat([_random(50, 16, 4), torch.zeros(3, 16)])[torch.randperm(53)],
}


def _check_stats(stats: dict, X: torch.Tensor, ref) -> None:
    C = ref.cosines(X.numpy())
    n = C.shape[0]
    off = C[~np.eye(n, dtype=bool)]
    assert stats["n"] == n
    for key, values in (("cos", off), ("cos_with_diag", C.ravel())):
        assert stats[f"mean_{key}"] == pytest.approx(values.mean(), abs=1e-6)
        assert stats[f"std_{key}"] == pytest.approx(values.std(), abs=1e-6)
    kept = X.double().numpy()[np.linalg.norm(X.numpy(), axis=1) > 0]
    mean = kept.mean(axis=0)
    cos_to_mean = kept @ mean / np.linalg.norm(kept, axis=1) / np.linalg.norm(mean)
    assert stats["mean_cos_to_mean"] == pytest.approx(cos_to_mean.mean(), abs=1e-6)
    assert stats["mean_norm"] == pytest.approx(np.linalg.norm(kept, axis=1).mean(), rel=1e-9)
    assert stats["norm_of_mean"] == pytest.approx(np.linalg.norm(mean), rel=1e-9)


@pytest.mark.parametrize("case", CASES)
def test_closed_forms_match_brute_force(case, ref):
    X = CASES[case]
    stats = closed_form_stats(X)
    _check_stats(stats, X, ref)
    assert stats["zero_norm_rows"] == (3 if case == "zero_rows" else 0)


def test_neo_like_case_is_crowded_near_0_9():
    assert closed_form_stats(CASES["neo_like"])["mean_cos"] > 0.85


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("include_diagonal", [False, True])
@pytest.mark.parametrize("chunk_rows", [None, 1, 7, 64])
def test_exact_histogram_matches_float64_counts(case, include_diagonal, chunk_rows, ref):
    X = CASES[case]
    edges, counts = exact_histogram(X, 200, include_diagonal=include_diagonal,
                                    chunk_rows=chunk_rows)
    assert edges == histogram_edges(200) and len(counts) == 200
    assert all(isinstance(c, int) for c in counts)
    values = ref.entries(X.numpy(), include_diagonal)
    n = ref.cosines(X.numpy()).shape[0]
    assert sum(counts) == (n * n if include_diagonal else n * (n - 1))
    ref.assert_counts_match(counts, values, 200)


def test_chunkings_agree_and_match_float32_brute_force(ref):
    """The float32 path's own brute force (one full matmul) agrees with every chunking."""
    X = CASES["neo_like"]
    U = torch.nn.functional.normalize(X.double(), dim=1).float()
    with exact_fp32():
        C = (U @ U.T).numpy().astype(np.float64)
    values = C[~np.eye(C.shape[0], dtype=bool)]
    results = [exact_histogram(X, 200, chunk_rows=r)[1] for r in (None, 3, 17, 399)]
    for counts in results:
        ref.assert_counts_match(counts, values, 200)
    _, ambiguous = ref.counts(values, 200)
    if ambiguous == 0:
        assert all(c == results[0] for c in results)


def test_other_bin_counts_and_ranges(ref):
    X = CASES["isotropic"]
    values = ref.entries(X.numpy(), False)
    for bins in (10, 37, 2000):
        ref.assert_counts_match(exact_histogram(X, bins)[1], values, bins)


def test_diagonal_lands_in_last_bin_and_rounding_is_clamped():
    X = torch.ones(5, 4)  # all cosines are 1 (computed as 1 +- eps in float32)
    counts = exact_histogram(X, 10, include_diagonal=True)[1]
    assert counts[-1] == 25 and sum(counts) == 25
    counts = exact_histogram(-torch.ones(2, 3).cumsum(0) * torch.tensor([[1.0], [-1.0]]), 10)[1]
    assert counts[0] == 2  # two antiparallel rows: cos = -1 (or -1 - eps) -> first bin
    assert bin_of(1.0 + 1e-7, 200) == 199 and bin_of(-1.0 - 1e-7, 200) == 0


def test_errors_for_degenerate_input():
    with pytest.raises(ValueError, match="at least 2 rows"):
        closed_form_stats(torch.cat([torch.ones(1, 3), torch.zeros(4, 3)]))
    with pytest.raises(ValueError, match="non-finite"):
        exact_histogram(torch.tensor([[1.0, float("nan")], [1.0, 2.0]]))
    with pytest.raises(ValueError, match="matrix"):
        closed_form_stats(torch.ones(3))


def test_progress_is_monotonic_and_ends_at_one():
    seen: list[float] = []
    exact_histogram(CASES["isotropic"], 50, chunk_rows=40, progress=seen.append)
    assert seen[0] == 0.0 and seen[-1] == 1.0 and seen == sorted(seen) and len(seen) > 5


def test_exact_fp32_restores_settings():
    torch.set_float32_matmul_precision("high")
    try:
        with exact_fp32():
            assert torch.get_float32_matmul_precision() == "highest"
            assert torch.backends.cuda.matmul.allow_tf32 is False
        assert torch.get_float32_matmul_precision() == "high"
    finally:
        torch.set_float32_matmul_precision("highest")


def test_sampled_histogram_is_seeded_and_exact_on_its_subsample(ref):
    X = CASES["neo_like"]
    a = sampled_histogram(X, 100, sample=120, seed=5)
    b = sampled_histogram(X, 100, sample=120, seed=5)
    c = sampled_histogram(X, 100, sample=120, seed=6)
    assert a == b and a.counts != c.counts
    assert a.sample_tokens == 120 and sum(a.counts) == 120 * 119
    sub = X[sample_rows(X.shape[0], 120, 5)]
    ref.assert_counts_match(a.counts, ref.entries(sub.numpy(), False), 100)
    assert a.mean_cos == pytest.approx(closed_form_stats(sub)["mean_cos"], abs=1e-12)


def test_sampled_histogram_of_everything_has_zero_stderr():
    X = CASES["isotropic"]
    whole = sampled_histogram(X, 200, sample=10_000)
    assert whole.sample_tokens == X.shape[0] and whole.stderr == 0.0
    assert whole.counts == exact_histogram(X, 200)[1]
    assert whole.mean_cos == pytest.approx(closed_form_stats(X)["mean_cos"], abs=1e-12)


def test_sampled_stderr_is_the_right_size():
    """Across seeds, subsample means scatter around the exact mean by about the reported SE."""
    X = _random(600, 16, 9, mean_scale=0.5)
    exact = closed_form_stats(X)["mean_cos"]
    runs = [sampled_histogram(X, 20, sample=60, seed=s) for s in range(60)]
    spread = float(np.std([r.mean_cos for r in runs]))
    se = float(np.mean([r.stderr for r in runs]))
    assert 0.6 < se / spread < 1.8
    assert abs(np.mean([r.mean_cos for r in runs]) - exact) < 3 * spread / math.sqrt(len(runs))
