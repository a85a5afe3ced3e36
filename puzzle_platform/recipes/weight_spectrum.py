"""Spec of the `weight_spectrum` recipe: the singular values of one weight matrix (embeddings,
one head's W_Q/W_K/W_V/W_O, or its OV / QK circuit) and how spread out they are.

No text is read: the statistics are functions of the weights alone.
"""
from __future__ import annotations

from typing import Any, Mapping

from ._inputs import MODEL_PARAMS
from ._spec import Param, RecipeSpec, choice, integer, optional

RUNNER = "puzzle_platform.worker.recipes.weight_spectrum:run"
WHOLE = ("W_E", "W_U", "W_pos")
PER_HEAD = ("W_Q", "W_K", "W_V", "W_O", "OV", "QK")
BASE_KEYS = ("effective_rank", "participation_ratio", "top1_fraction", "rank", "frobenius_norm",
             "count")


def _check(params: dict, raw: Mapping[str, Any]) -> None:
    if params["matrix"] in PER_HEAD:
        missing = [k for k in ("layer", "head") if params[k] is None]
        if missing:
            raise ValueError(f"matrix {params['matrix']} is one per head: give {' and '.join(missing)}")
    elif params["layer"] is not None or params["head"] is not None:
        raise ValueError(f"matrix {params['matrix']} has no layer or head: leave them out")


def _keys(params: dict) -> frozenset[str]:
    return frozenset(BASE_KEYS) | {f"sv.{i}" for i in range(params["top"])}


STATISTICS = (
    ("count", "number of singular values, min(rows, cols)"),
    ("sv.{i}", "the i-th largest singular value, i = 0 .. top-1 (float64 SVD of the float32 "
               "weights cast to float64)"),
    ("effective_rank", "exp(-sum p_i ln p_i) with p_i = s_i / sum_j s_j (terms with p_i = 0 "
                       "count 0)"),
    ("participation_ratio", "(sum s_i^2)^2 / sum s_i^4"),
    ("top1_fraction", "s_0 / sum s_i"),
    ("rank", "number of s_i > max(rows, cols) * eps * s_0, eps = float64 machine epsilon "
             "(numpy.linalg.matrix_rank's tolerance)"),
    ("frobenius_norm", "sqrt(sum of squared entries) = sqrt(sum s_i^2)"),
)

SPEC = RecipeSpec(
    name="weight_spectrum",
    description="Singular values of one weight matrix (W_E, W_U, W_pos, or one head's W_Q, W_K, "
                "W_V, W_O, OV = W_V W_O, QK = W_Q W_K^T): effective rank, participation ratio, "
                "top singular values.",
    params=MODEL_PARAMS + (
        Param("matrix", "W_E, W_U, W_pos, or per head W_Q, W_K, W_V, W_O, OV (W_V @ W_O, "
                        "d_model x d_model) or QK (W_Q @ W_K^T)",
              choice(*WHOLE, *PER_HEAD)),
        Param("layer", "layer of a per-head matrix (from 0)", optional(integer(0, 9999)), None),
        Param("head", "head of a per-head matrix (from 0)", optional(integer(0, 9999)), None),
        Param("top", "how many of the largest singular values to give as sv.0, sv.1, ...",
              integer(1, 4096), 10),
    ),
    runner=RUNNER,
    check=_check,
    keys=_keys,
    statistics=STATISTICS,
    figure="singular values in decreasing order, log-scale y axis",
)
