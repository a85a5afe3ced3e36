"""Run a recipe by name: validate its params, then call its runner (resolved here, in the worker)."""
from __future__ import annotations

import importlib
from typing import Callable

from ..recipes import RecipeError, get_recipe

ProgressFn = Callable[[int, str], None]


def resolve_runner(path: str) -> Callable[..., dict]:
    """'package.module:function' -> the function."""
    module_name, _, attr = path.partition(":")
    try:
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise RecipeError(f"recipe runner {path!r} cannot be imported: {exc}") from None


def run_recipe(name: str, params: dict, progress: ProgressFn | None = None) -> dict:
    """The artifact {statistics, histogram, figure, provenance} of recipe `name` on `params`."""
    spec = get_recipe(name)
    return resolve_runner(spec.runner)(spec.validate_params(params), progress)
