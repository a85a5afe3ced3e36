"""Spec of the `embedding_cosine` recipe: pairwise cosine similarities of a model's embedding rows.

Statistics are exact closed forms over the token set (float64), whatever the histogram mode; the
figure is a histogram with fixed edges over [-1, 1] so figures of different models compare.
"""
from __future__ import annotations

from typing import Any, Mapping

from ._spec import Param, RecipeSpec, boolean, choice, integer, optional, text

RUNNER = "puzzle_platform.worker.recipes.embedding_cosine:run"

# Exact closed-form statistics; each also exists as "centered_<key>" (rows minus their mean).
COSINE_KEYS = ("mean_cos", "std_cos", "mean_cos_with_diag", "std_cos_with_diag", "mean_cos_to_mean")
BASE_KEYS = ("n", "d_model", "zero_norm_rows", "mean_norm", "norm_of_mean", "norm_ratio",
             "entries_counted", "centered_zero_norm_rows")
# Only with histogram = "sample": the histogram subsample's own estimate of (centered_)mean_cos.
SAMPLE_KEYS = ("sample_tokens", "sample_mean_cos", "sample_mean_cos_stderr")


def _tokens(value: Any) -> str | int:
    if value == "all" and isinstance(value, str):
        return value
    if isinstance(value, bool) or not isinstance(value, int) or value < 2:
        raise ValueError(f'must be "all" or a whole number of tokens >= 2, got {value!r}')
    return value


def _check(params: dict, raw: Mapping[str, Any]) -> None:
    if params["histogram"] == "sample":
        if params["histogram_sample"] is None:
            params["histogram_sample"] = 5000
    elif raw.get("histogram_sample") is not None:
        raise ValueError('histogram_sample is only used with histogram = "sample"')


def _keys(params: dict) -> frozenset[str]:
    keys = set(BASE_KEYS) | set(COSINE_KEYS) | {f"centered_{k}" for k in COSINE_KEYS}
    if params["histogram"] == "sample":
        keys |= set(SAMPLE_KEYS)
    return frozenset(keys)


STATISTICS = (
    ("n", "rows counted: the matrix's rows (or the `tokens` sampled), minus rows of zero length"),
    ("d_model", "the rows' width"),
    ("zero_norm_rows", "rows of zero length, dropped from every statistic"),
    ("mean_cos", "mean of cos(x_i, x_j) over distinct pairs i != j"),
    ("std_cos", "population standard deviation of cos(x_i, x_j) over distinct pairs i != j"),
    ("mean_cos_with_diag", "mean of cos(x_i, x_j) over all n^2 pairs (the n self-similarities "
                           "count, each exactly 1)"),
    ("std_cos_with_diag", "standard deviation over all n^2 pairs"),
    ("mean_cos_to_mean", "mean over rows of cos(x_i, m), m the mean row"),
    ("mean_norm", "mean over rows of |x_i|"),
    ("norm_of_mean", "|m|, the length of the mean row"),
    ("norm_ratio", "norm_of_mean / mean_norm"),
    ("entries_counted", "pairs counted in the histogram (n(n-1), or n^2 with diagonal = true; of "
                        "the subsample with histogram = \"sample\")"),
    ("centered_zero_norm_rows", "rows of zero length after subtracting the mean row"),
    ("centered_<cosine statistic>", "mean_cos, std_cos, mean_cos_with_diag, std_cos_with_diag of "
                                    "the rows minus their mean m; centered_mean_cos_to_mean is the "
                                    "mean cos(x_i - m, m) (to the uncentred mean direction)"),
    ("sample_tokens", "(histogram = \"sample\" only) tokens in the histogram subsample"),
    ("sample_mean_cos", "(histogram = \"sample\" only) the subsample's mean_cos (centred rows "
                        "with center = true)"),
    ("sample_mean_cos_stderr", "(histogram = \"sample\" only) standard error of sample_mean_cos"),
)

SPEC = RecipeSpec(
    name="embedding_cosine",
    description="Pairwise cosine similarity of a model's embedding rows (tokens or positions): "
                "exact closed-form mean/std, before and after centring, and a histogram figure.",
    params=(
        Param("model", "TransformerLens model name or alias (gpt-neo-small, gpt2-small, ...) "
                       "on the site's allow-list, or a local Hugging Face model folder inside "
                       "MODELS_DIR, written models:<folder>", text),
        Param("matrix", "W_E (token embeddings), W_U (unembedding, one row per token) or W_pos",
              choice("W_E", "W_U", "W_pos"), "W_E"),
        Param("weights", "processed (TransformerLens fold_ln/centring, as HookedTransformer) or raw",
              choice("processed", "raw"), "processed"),
        Param("center", "figure shows rows minus their mean (statistics always give both)",
              boolean, False),
        Param("tokens", '"all" rows, or N >= 2 rows sampled without replacement with seed',
              _tokens, "all"),
        Param("seed", "seed for token and histogram sampling", integer(0, 2**63 - 1), 0),
        Param("diagonal", "histogram includes the n self-similarities (each exactly 1)",
              boolean, False),
        Param("bins", "histogram bins over [-1, 1]", integer(10, 2000), 200),
        Param("histogram", "exact (every pair) or sample (histogram of a seeded token subsample)",
              choice("exact", "sample"), "exact"),
        Param("histogram_sample", "tokens in the histogram subsample (histogram = sample; "
                                  "default 5000)", optional(integer(2)), None),
        Param("device", "auto (cuda when available), cpu or cuda",
              choice("auto", "cpu", "cuda"), "auto"),
        Param("revision", "Hugging Face revision (branch, tag or commit) of a hub model",
              optional(text), None),
    ),
    runner=RUNNER,
    figure_shows_statistics=False,
    check=_check,
    keys=_keys,
    statistics=STATISTICS,
    figure="histogram of the pairwise cosines (centred rows with center = true) over fixed edges "
           "on [-1, 1], every pair or a seeded subsample",
)
