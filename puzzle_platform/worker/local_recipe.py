"""Running a puzzle-local recipe: the folder's recipe.py, as hashed when the folder was synced.

recipe.py is trusted code, reviewed like any other commit to the puzzles folder. It is read
only from PUZZLES_DIR/<NN-slug>/ on disk (the web form cannot declare or name one), and only
the exact bytes whose SHA-256 the sync recorded are executed: an edited file fails the job
until `puzzles sync` records it (which also versions the truth and regrades). What it returns
is held to the artifact contract of every recipe, and any failure of it is a RecipeError (a
permanent job failure whose one-line reason mentors see).
"""
from __future__ import annotations

import hashlib
import json
import math
import sys
import types
from numbers import Real
from pathlib import Path
from typing import Any

from ..content.files import FOLDER_RE
from ..recipes import RecipeError
from ..recipes.local import LOCAL_KEY, RECIPE_FILE, recipe_params
from .run_recipe import ProgressFn

_MODULES: dict[str, types.ModuleType] = {}  # by SHA-256: each version is executed once


def _meta(name: str, params: dict) -> dict:
    meta = params.get(LOCAL_KEY)
    keys = {"folder", "function", "sha256", "statistics"}
    if not isinstance(meta, dict) or not keys <= set(meta) or not FOLDER_RE.match(str(meta["folder"])):
        raise RecipeError(f"{name}: the figure carries no puzzle-local recipe declaration; run "
                          "`manage.py puzzles sync`")
    return meta


def load_module(name: str, path: Path, sha256: str) -> types.ModuleType:
    """recipe.py's module, executed from the bytes just read if they hash to `sha256`."""
    try:
        source = path.read_bytes()
    except OSError:
        raise RecipeError(f"{name}: {path.parent.name}/{RECIPE_FILE} is missing; run "
                          "`manage.py puzzles sync`") from None
    if hashlib.sha256(source).hexdigest() != sha256:
        raise RecipeError(f"{name}: recipe.py changed since sync: run puzzles sync")
    if sha256 in _MODULES:
        return _MODULES[sha256]
    module_name = f"puzzle_local_recipe_{sha256[:16]}"
    module = types.ModuleType(module_name)
    module.__file__ = str(path)
    sys.modules[module_name] = module  # dataclasses and pickling look modules up by name
    try:
        exec(compile(source, str(path), "exec"), module.__dict__)  # noqa: S102 - trusted, hashed
    except Exception as exc:  # noqa: BLE001 - the author's error, reported in one line
        del sys.modules[module_name]
        raise RecipeError(f"{name}: importing {RECIPE_FILE} raised {type(exc).__name__}: {exc}") from None
    _MODULES[sha256] = module
    return module


def _statistics(name: str, raw: Any, declared: set[str]) -> dict:
    if not isinstance(raw, dict):
        raise RecipeError(f"{name}: {RECIPE_FILE} must return a dict with a \"statistics\" dict")
    if set(raw) != declared:
        missing, extra = sorted(declared - set(raw)), sorted(set(map(str, raw)) - declared)
        raise RecipeError(f"{name}: statistics differ from the declared ones"
                          + (f"; missing {', '.join(missing)}" if missing else "")
                          + (f"; undeclared {', '.join(extra)}" if extra else ""))
    out = {}
    for key, value in raw.items():
        if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(float(value)):
            raise RecipeError(f"{name}: statistic {key!r} must be a finite number, got {value!r}"[:200])
        out[key] = value if isinstance(value, int) else float(value)
    return out


def run_local_recipe(name: str, params: dict, progress: ProgressFn | None, puzzles_dir: str | Path) -> dict:
    """The artifact {statistics, figure, provenance} of local recipe `name` on stored params."""
    meta = _meta(name, params)
    path = Path(puzzles_dir) / meta["folder"] / RECIPE_FILE
    module = load_module(name, path, meta["sha256"])
    function = getattr(module, meta["function"], None)
    if not callable(function):
        raise RecipeError(f"{name}: {RECIPE_FILE} defines no function {meta['function']!r}")
    raised: list[BaseException] = []

    def report(pct: int, stage: str) -> None:  # a cancellation must not be reported as the recipe's error
        try:
            (progress or (lambda p, s: None))(pct, stage)
        except BaseException as exc:
            raised.append(exc)
            raise

    try:
        result = function(recipe_params(params), report)
    except Exception as exc:  # noqa: BLE001
        if raised:
            raise raised[0] from None
        raise RecipeError(f"{name}: {RECIPE_FILE} raised {type(exc).__name__}: {exc}") from None
    if not isinstance(result, dict):
        raise RecipeError(f"{name}: {RECIPE_FILE} must return a dict with \"statistics\" and \"figure\"")
    statistics = _statistics(name, result.get("statistics"), set(meta["statistics"]))
    figure = result.get("figure")
    if not isinstance(figure, dict):
        raise RecipeError(f"{name}: the figure must be a dict (plotly JSON), got {type(figure).__name__}")
    try:
        json.dumps(figure)
    except (TypeError, ValueError):
        raise RecipeError(f"{name}: the figure must be JSON (plotly's figure.to_plotly_json())") from None
    extra = result.get("provenance")
    extra = json.loads(json.dumps(extra, default=str)) if isinstance(extra, dict) else {}
    provenance = {**extra, "recipe": name,
                  "recipe_sha256": meta["sha256"], "puzzle_folder": meta["folder"],
                  "code_version": f"{name}/{meta['sha256'][:16]}"}
    return {"statistics": statistics, "figure": figure, "provenance": provenance}
