"""Run a recipe by name: validate its params, then call its runner (resolved here, in the worker)."""
from __future__ import annotations

import importlib
import math
from pathlib import Path
from typing import Callable

from ..recipes import RecipeError, get_recipe
from ..recipes.local import is_local

# progress(percent, stage) -> None; it may raise to cancel the run. Every runner takes one.
ProgressFn = Callable[[int, str], None]


def resolve_runner(path: str) -> Callable[..., dict]:
    """'package.module:function' -> the function."""
    module_name, _, attr = path.partition(":")
    try:
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise RecipeError(f"recipe runner {path!r} cannot be imported: {exc}") from None


def run_recipe(name: str, params: dict, progress: ProgressFn | None = None, *,
               puzzles_dir: str | Path | None = None) -> dict:
    """The artifact {statistics, histogram, figure, provenance} of recipe `name` on `params`.

    A puzzle-local recipe (`local.*`) runs from its folder under `puzzles_dir` (default: the
    app's PUZZLES_DIR), with the params its figure stored at sync.
    """
    if is_local(name):
        from .local_recipe import run_local_recipe
        if puzzles_dir is None:
            from flask import current_app, has_app_context
            if not has_app_context():
                raise RecipeError(f"{name}: a puzzle-local recipe runs only from a puzzle folder")
            puzzles_dir = current_app.config["PUZZLES_DIR"]
        return run_local_recipe(name, params, progress, puzzles_dir)
    spec = get_recipe(name)
    return check_finite(name, resolve_runner(spec.runner)(spec.validate_params(params), progress))


def check_finite(name: str, artifact: dict) -> dict:
    """The artifact, or RecipeError when a statistic is not a finite number: a NaN or an
    infinity (overflowing activations) must fail the job, never become a truth."""
    for key, value in (artifact.get("statistics") or {}).items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise RecipeError(f"{name}: statistic {key!r} is {value!r}, not a finite number (the "
                              "model's activations overflow or are undefined on these inputs)")
    return artifact
