"""Puzzle-local recipes: a puzzle folder's `recipe.py`, declared by `[[recipes]]` in puzzle.toml.

The web process validates figures and questions against the declaration alone: it hashes
recipe.py but never imports it (torch-free, and no author code runs in the web process). The
declaration the worker needs (folder, function, declared statistics) and the file's SHA-256
travel in the figure's params under LOCAL_KEY, so a changed recipe.py changes the params key:
a new truth version, stale jobs superseded, answers regraded, as for any changed parameter.
The worker (worker/local_recipe.py) runs the file from the folder on disk only after checking
that hash. Names carry the prefix `local.` so a recipe added to the registry later can never
clash with one.
"""
from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from ._spec import _MISSING, Param, RecipeSpec, boolean, integer

LOCAL_PREFIX = "local."
LOCAL_KEY = "_local"  # the figure params' entry read by the worker, never by the recipe
RECIPE_FILE = "recipe.py"
MAX_RECIPE_BYTES = 1_000_000
NAME_RE = re.compile(r"^local\.[a-z][a-z0-9_]{0,50}$")
IDENT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
PARAM_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
RECIPE_KEYS = {"name", "description", "params", "statistics", "function"}
PARAM_KEYS = {"default", "doc", "type"}


def is_local(name: object) -> bool:
    return isinstance(name, str) and name.startswith(LOCAL_PREFIX)


def _json(value: Any) -> Any:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        raise ValueError("must hold only strings, finite numbers, booleans, arrays and tables") from None
    return value


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"must be a finite number, got {value!r}")
    return float(value)


def _string(value: Any) -> str:
    if not isinstance(value, str) or len(value) > 10_000:
        raise ValueError(f"must be a string (at most 10,000 characters), got {value!r}"[:120])
    return value


def _array(value: Any) -> list:
    if not isinstance(value, list):
        raise ValueError(f"must be an array, got {value!r}"[:120])
    return _json(value)


def _table(value: Any) -> dict:
    if not isinstance(value, dict):
        raise ValueError(f"must be a table, got {value!r}"[:120])
    return _json(value)


TYPES: dict[str, Callable[[Any], Any]] = {"int": integer(), "float": _number, "bool": boolean,
                                          "string": _string, "array": _array, "table": _table}


def _type_of(default: Any) -> str:
    for name, kind in (("bool", bool), ("int", int), ("float", float), ("string", str),
                       ("array", list), ("table", dict)):
        if isinstance(default, kind):
            return name
    raise ValueError(f"default {default!r} is not an int, float, bool, string, array or table")


def _param(name: object, raw: object, where: str) -> Param:
    if not isinstance(name, str) or not PARAM_RE.match(name):
        raise ValueError(f"{where}: parameter name {name!r} must be lowercase letters, digits and _")
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: parameter {name!r} must be a table {{ default = ..., doc = \"...\" }}")
    if extra := sorted(set(raw) - PARAM_KEYS):
        raise ValueError(f"{where}: parameter {name!r}: unknown field(s) {', '.join(extra)}; "
                         f"allowed: {', '.join(sorted(PARAM_KEYS))}")
    try:
        kind = raw["type"] if "type" in raw else _type_of(raw["default"]) if "default" in raw else None
    except ValueError as exc:
        raise ValueError(f"{where}: parameter {name!r}: {exc}") from None
    if kind not in TYPES:
        raise ValueError(f"{where}: parameter {name!r}: give a default or a type "
                         f"({', '.join(TYPES)})" + (f"; got type {kind!r}" if kind else ""))
    parse = TYPES[kind]
    default = _MISSING
    if "default" in raw:
        try:
            default = parse(raw["default"])
        except ValueError as exc:
            raise ValueError(f"{where}: parameter {name!r}: default {exc}") from None
    doc = raw.get("doc", "")
    if not isinstance(doc, str):
        raise ValueError(f"{where}: parameter {name!r}: doc must be a string")
    return Param(name, f"({kind}) {doc}".strip(), parse, default)


def _statistics(raw: object, where: str) -> tuple[tuple[str, str], ...]:
    if not isinstance(raw, list) or not raw:
        raise ValueError(f"{where}: statistics must be a non-empty array of names or "
                         "{ name = \"...\", doc = \"...\" } tables")
    out = []
    for item in raw:
        name, doc = (item, "") if isinstance(item, str) else (
            (item.get("name"), item.get("doc", "")) if isinstance(item, dict) and set(item) <= {"name", "doc"}
            else (None, ""))
        if not isinstance(name, str) or not IDENT_RE.match(name) or not isinstance(doc, str):
            raise ValueError(f"{where}: statistic {item!r} must be a name (letters, digits, _) "
                             "or { name = \"...\", doc = \"...\" }"[:200])
        out.append((name, doc))
    if len({n for n, _ in out}) != len(out):
        raise ValueError(f"{where}: statistic names must be unique")
    return tuple(out)


@dataclass(frozen=True)
class LocalRecipe:
    """A declared local recipe: its spec (the same validator registered recipes use), the
    function recipe.py must define, and the file's hash when the folder was loaded."""

    spec: RecipeSpec
    function: str
    sha256: str
    folder: str  # the puzzle folder's name, NN-slug, under PUZZLES_DIR

    def figure_params(self, raw: Mapping[str, Any]) -> dict:
        """Validated params plus what the worker needs (LOCAL_KEY); RecipeError if refused."""
        params = self.spec.validate_params(raw)
        params[LOCAL_KEY] = {"folder": self.folder, "file": RECIPE_FILE, "function": self.function,
                             "sha256": self.sha256, "statistics": sorted(n for n, _ in self.spec.statistics)}
        return params


def recipe_hash(folder: Path) -> str:
    """SHA-256 of the folder's recipe.py (read, never imported); ValueError if unusable."""
    path = folder / RECIPE_FILE
    if not path.is_file() or path.is_symlink():
        raise ValueError(f"[[recipes]] needs the file {RECIPE_FILE} in the puzzle folder (a regular file)")
    data = path.read_bytes()
    if len(data) > MAX_RECIPE_BYTES:
        raise ValueError(f"{RECIPE_FILE} is over {MAX_RECIPE_BYTES // 1_000_000} MB")
    return hashlib.sha256(data).hexdigest()


def read_local_recipes(raw: object, folder: Path) -> dict[str, LocalRecipe]:
    """The `[[recipes]]` of a puzzle folder, by name; ValueError(one-line reason)."""
    if raw is None:
        return {}
    if not isinstance(raw, list) or not all(isinstance(r, dict) for r in raw):
        raise ValueError("recipes must be an array of tables: [[recipes]]")
    digest = recipe_hash(folder) if raw else ""
    out: dict[str, LocalRecipe] = {}
    for index, entry in enumerate(raw):
        where = f"recipes[{index}]"
        if extra := sorted(set(entry) - RECIPE_KEYS):
            raise ValueError(f"{where}: unknown field(s) {', '.join(extra)}; allowed: {', '.join(sorted(RECIPE_KEYS))}")
        name = entry.get("name")
        if not isinstance(name, str) or not NAME_RE.match(name):
            raise ValueError(f"{where}: name {name!r} must be local.<name> (lowercase letters, "
                             "digits and _), so it never clashes with a registered recipe")
        where = f"recipe {name!r}"
        if name in out:
            raise ValueError(f"{where} is declared twice")
        function = entry.get("function", "run")
        if not isinstance(function, str) or not IDENT_RE.match(function):
            raise ValueError(f"{where}: function {function!r} must be a Python name defined in {RECIPE_FILE}")
        description = entry.get("description", "")
        if not isinstance(description, str) or len(description) > 1000:
            raise ValueError(f"{where}: description must be a string of at most 1000 characters")
        params = entry.get("params") or {}
        if not isinstance(params, dict):
            raise ValueError(f"{where}: params must be a table: name -> {{ default = ..., doc = \"...\" }}")
        if LOCAL_KEY in params:
            raise ValueError(f"{where}: parameter name {LOCAL_KEY!r} is reserved")
        statistics = _statistics(entry.get("statistics"), where)
        spec = RecipeSpec(name=name, description=description or f"{RECIPE_FILE}:{function}",
                          params=tuple(_param(k, v, where) for k, v in params.items()),
                          runner=f"{RECIPE_FILE}:{function}",
                          keys=lambda p, names=frozenset(n for n, _ in statistics): names,
                          statistics=statistics)
        out[name] = LocalRecipe(spec, function, digest, folder.name)
    return out


def local_statistics(params: Mapping[str, Any]) -> frozenset[str]:
    """The statistics a local figure's stored params declare."""
    meta = params.get(LOCAL_KEY) if isinstance(params, Mapping) else None
    return frozenset(meta.get("statistics", ())) if isinstance(meta, dict) else frozenset()


def recipe_params(params: Mapping[str, Any]) -> dict:
    """The params a local recipe's function receives (without LOCAL_KEY)."""
    return {k: v for k, v in params.items() if k != LOCAL_KEY}
