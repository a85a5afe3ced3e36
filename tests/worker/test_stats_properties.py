"""Hypothesis properties of the cosine statistics and histograms."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from puzzle_platform.worker.embedding_stats import closed_form_stats, exact_histogram

COS_KEYS = ("mean_cos", "std_cos", "mean_cos_with_diag", "std_cos_with_diag", "mean_cos_to_mean")


@st.composite
def matrices(draw, max_n: int = 40, max_d: int = 12) -> torch.Tensor:
    n = draw(st.integers(2, max_n))
    d = draw(st.integers(1, max_d))
    seed = draw(st.integers(0, 2**31))
    offset = draw(st.floats(0.0, 5.0))
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=g, dtype=torch.float64) + offset * torch.randn(
        d, generator=g, dtype=torch.float64)
    return X[torch.linalg.vector_norm(X, dim=1) > 1e-3] if n > 2 else X


SETTINGS = settings(max_examples=60, deadline=None)


def _moment(stats: dict, key: str) -> float:
    """Compare variances, not stds: sqrt of a ~1e-16 rounding residue is ~1e-8 when std is 0."""
    return stats[key] ** 2 if key.startswith("std") else stats[key]


@SETTINGS
@given(matrices(), st.data())
def test_invariant_to_positive_row_scaling(X, data):
    if X.shape[0] < 2:
        return
    scales = torch.tensor(data.draw(st.lists(st.floats(1e-3, 1e3), min_size=X.shape[0],
                                             max_size=X.shape[0])), dtype=torch.float64)
    a, b = closed_form_stats(X), closed_form_stats(X * scales[:, None])
    for key in COS_KEYS[:4]:  # mean_cos_to_mean depends on the mean, which scaling moves
        assert _moment(b, key) == pytest.approx(_moment(a, key), abs=1e-9)


@SETTINGS
@given(matrices())
def test_invariant_to_row_permutation_and_rotation(X):
    if X.shape[0] < 2:
        return
    g = torch.Generator().manual_seed(X.shape[0])
    q, _ = torch.linalg.qr(torch.randn(X.shape[1], X.shape[1], generator=g, dtype=torch.float64))
    a = closed_form_stats(X)
    for Y in (X.flip(0), X @ q):
        b = closed_form_stats(Y)
        for key in COS_KEYS:
            assert _moment(b, key) == pytest.approx(_moment(a, key), abs=1e-9)


@SETTINGS
@given(matrices())
def test_diagonal_formulae_are_consistent(X):
    if X.shape[0] < 2:
        return
    s = closed_form_stats(X)
    n = s["n"]
    assert s["mean_cos_with_diag"] == pytest.approx((n * (n - 1) * s["mean_cos"] + n) / n**2,
                                                    abs=1e-12)
    second_off = s["std_cos"] ** 2 + s["mean_cos"] ** 2
    second_all = (n * (n - 1) * second_off + n) / n**2
    assert s["std_cos_with_diag"] ** 2 + s["mean_cos_with_diag"] ** 2 == pytest.approx(
        second_all, abs=1e-9)
    assert -1 - 1e-12 <= s["mean_cos"] <= 1 + 1e-12 and s["std_cos"] >= 0
    assert s["norm_ratio"] <= 1 + 1e-12  # |mean| <= mean |x| (triangle inequality)


@SETTINGS
@given(matrices(max_n=30), st.integers(10, 300), st.booleans(), st.integers(1, 31))
def test_counts_sum_exactly_and_mean_is_consistent(X, bins, diagonal, chunk_rows):
    if X.shape[0] < 2:
        return
    edges, counts = exact_histogram(X, bins, include_diagonal=diagonal, chunk_rows=chunk_rows)
    n = X.shape[0]
    assert sum(counts) == (n * n if diagonal else n * (n - 1)) and min(counts) >= 0
    # The histogram's mean is the exact mean to within half a bin width.
    centres = (np.asarray(edges[:-1]) + np.asarray(edges[1:])) / 2
    hist_mean = float(np.dot(centres, counts) / sum(counts))
    exact = closed_form_stats(X)["mean_cos_with_diag" if diagonal else "mean_cos"]
    assert abs(hist_mean - exact) <= (edges[1] - edges[0]) / 2 + 1e-9
