"""What every model recipe's runner shares: its provenance and progress reporting."""
from __future__ import annotations

import importlib.metadata
from typing import Callable

import torch

from ..inputs import Tokens
from ..models_runtime import LoadedBridge, LoadedModel
from ..run_recipe import ProgressFn


def version_of(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def shown_model(loaded: LoadedBridge | LoadedModel, params: dict) -> str:
    """The model's name on a figure: the figure's `label` when set, else its reference."""
    return params.get("label") or loaded.name


def provenance(loaded: LoadedBridge | LoadedModel, params: dict, code_version: str,
               tokens: Tokens | None = None, **extra) -> dict:
    """Model, revision, weights, device, dtype, the inputs (token ids' hash and counts), the
    recipe's code version and the library versions: what a reader needs to recompute it."""
    out = {"model": loaded.name, "resolved_model": loaded.resolved_name, "revision": loaded.revision,
           "weights": loaded.weights, "device": loaded.device, "dtype": loaded.dtype,
           "load_warnings": list(loaded.load_warnings), "code_version": code_version,
           "torch_version": torch.__version__, "transformer_lens_version": version_of("transformer-lens")}
    if params.get("label"):
        out["label"] = params["label"]
    if tokens is not None:
        out["inputs"] = tokens.provenance
    out.update(extra)
    return out


def reporter(progress: ProgressFn | None, lo: int, hi: int) -> Callable[[int, int, str], None]:
    """progress(done, total, stage) mapped into [lo, hi] percent, one report per whole percent."""
    report = progress or (lambda pct, stage: None)
    last = [-1]

    def step(done: int, total: int, stage: str) -> None:
        pct = lo + int((hi - lo) * done / max(1, total))
        if pct != last[0]:
            last[0] = pct
            report(pct, stage)
    return step
