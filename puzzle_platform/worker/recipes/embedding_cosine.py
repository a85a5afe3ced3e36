"""Runner of the `embedding_cosine` recipe: model -> exact statistics + histogram figure.

The statistics are closed forms over the whole token set (exact whatever the histogram mode);
the histogram shows the centred or uncentred rows, every pair or a seeded subsample.
"""
from __future__ import annotations

import importlib.metadata

import torch

from ...recipes import RecipeError
from ...recipes.embedding_cosine import COSINE_KEYS, SPEC
from ..embedding_stats import (closed_form_stats, drop_zero_rows, exact_histogram,
                               sample_rows, sampled_histogram)
from ..figures import Convention, histogram_figure
from ..models_runtime import load_model
from ..run_recipe import ProgressFn

RECIPE_VERSION = "embedding_cosine/1"  # bump whenever the maths or conventions change
LO, HI = -1.0, 1.0



def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def run(params: dict, progress: ProgressFn | None = None) -> dict:
    """Artifact {statistics, histogram, figure, provenance}; progress(pct, stage) may raise to cancel."""
    p = SPEC.validate_params(params)
    report = progress or (lambda pct, stage: None)

    report(0, "loading model")
    loaded = load_model(p["model"], weights=p["weights"], device=p["device"], revision=p["revision"])
    X = loaded.matrix(p["matrix"])
    if p["tokens"] != "all":
        if p["tokens"] > X.shape[0]:
            raise RecipeError(f"tokens = {p['tokens']} but {p['matrix']} of {loaded.name!r} has "
                              f"only {X.shape[0]} rows")
        X = X[sample_rows(X.shape[0], p["tokens"], p["seed"]).to(X.device)]

    report(10, "statistics")
    stats = closed_form_stats(X)
    rows, _ = drop_zero_rows(X)
    mean = rows.mean(dim=0)
    centered = rows - mean
    cstats = closed_form_stats(centered, reference=mean)
    stats.update({f"centered_{k}": cstats[k] for k in COSINE_KEYS})
    stats["centered_zero_norm_rows"] = cstats["zero_norm_rows"]

    report(20, "histogram")
    target = centered if p["center"] else rows
    del rows
    last = [-1]

    def hist_progress(frac: float) -> None:  # one report per whole percent: cheap for a DB write
        if int(100 * frac) != last[0]:
            last[0] = int(100 * frac)
            report(20 + int(75 * frac), f"histogram {last[0]}%")

    sample_tokens = None
    if p["histogram"] == "exact":
        edges, counts = exact_histogram(target, p["bins"], LO, HI, include_diagonal=p["diagonal"],
                                        progress=hist_progress)
    else:
        sh = sampled_histogram(target, p["bins"], LO, HI, sample=p["histogram_sample"],
                               seed=p["seed"], include_diagonal=p["diagonal"],
                               progress=hist_progress)
        edges, counts, sample_tokens = sh.edges, sh.counts, sh.sample_tokens
        stats.update(sample_tokens=sh.sample_tokens, sample_mean_cos=sh.mean_cos,
                     sample_mean_cos_stderr=sh.stderr)
    stats["entries_counted"] = sum(counts)

    report(95, "figure")
    n_shown = stats["n"] - (cstats["zero_norm_rows"] if p["center"] else 0)
    shown = p.get("label")  # a label names the model on the figure instead of its reference
    convention = Convention(shown or loaded.name, shown or loaded.resolved_name, p["matrix"],
                            p["weights"], p["center"], p["diagonal"], n_shown, sample_tokens)
    figure = histogram_figure(edges, counts, convention)
    provenance = {
        "model": loaded.name, "resolved_model": loaded.resolved_name, "revision": loaded.revision,
        "weights": p["weights"], "matrix": p["matrix"], "device": loaded.device,
        "dtype": loaded.dtype, "seed": p["seed"], "tokens": p["tokens"],
        "histogram": p["histogram"], "histogram_sample": p["histogram_sample"],
        "bins": p["bins"], "center": p["center"], "diagonal": p["diagonal"],
        "caption": convention.caption(), "load_warnings": list(loaded.load_warnings),
        "code_version": RECIPE_VERSION, "torch_version": torch.__version__,
        "transformer_lens_version": _version("transformer-lens"),
    }
    if shown:
        provenance["label"] = shown
    report(100, "done")
    return {"statistics": stats, "histogram": {"edges": edges, "counts": counts},
            "figure": figure, "provenance": provenance}
