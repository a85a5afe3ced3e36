"""RecipeSpec and small declarative parameter checkers (torch-free).

A recipe declares its parameters as `Param`s; `RecipeSpec.validate_params` turns raw puzzle-file
values into a normalised dict (every key present, defaults filled) or raises a RecipeError with
one line naming the parameter, so a puzzle author sees exactly what to fix.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

_MISSING: Any = object()
MAX_LABEL_CHARS = 80


class RecipeError(ValueError):
    """A bad recipe name or parameter; str() is one line fit for a puzzle author."""


@dataclass(frozen=True)
class Param:
    """One parameter: `parse(value)` returns the normalised value or raises ValueError(reason)."""

    name: str
    doc: str
    parse: Callable[[Any], Any]
    default: Any = _MISSING  # _MISSING: required
    omit_none: bool = False  # a None value is left out of the normalised params

    @property
    def required(self) -> bool:
        return self.default is _MISSING


@dataclass(frozen=True)
class RecipeSpec:
    """What the platform knows about a recipe without running it."""

    name: str
    description: str
    params: tuple[Param, ...]
    runner: str  # "module.path:function", resolved only inside the worker
    check: Callable[[dict, Mapping[str, Any]], None] = lambda params, raw: None
    keys: Callable[[dict], frozenset[str]] = lambda params: frozenset()
    # (statistic name or pattern such as "L{l}.H{h}.prev_token", its exact definition): shown
    # by `manage.py recipes show`, the mentor form and the README
    statistics: tuple[tuple[str, str], ...] = ()
    # Regular expressions of statistic names accepted when a puzzle is loaded although keys()
    # could not list them: per-layer or per-head names of a model whose shape is not known on
    # this host (its config.json is neither under MODELS_DIR nor in the Hugging Face cache).
    # Such a name is checked for real when the figure is computed.
    patterns: Callable[[dict], tuple[str, ...]] = lambda params: ()
    figure: str = ""  # what the figure shows, one line
    # True when the figure (or its caption) plots the statistics themselves: a scholar may
    # then see it only after the reveal if a question reads one of them (content/page.py).
    # embedding_cosine's histogram shows a distribution, not its statistics.
    figure_shows_statistics: bool = True
    param_doc: Mapping[str, str] = field(init=False)

    def __post_init__(self) -> None:
        if not any(p.name == LABEL.name for p in self.params):  # every recipe takes a label
            object.__setattr__(self, "params", (*self.params, LABEL))
        object.__setattr__(self, "param_doc", {p.name: p.doc for p in self.params})

    def definition(self, stat: str) -> str:
        """The documented definition of statistic `stat` ("" if undocumented); a documented
        pattern such as "L{l}.H{h}.prev_token" or "centered_<cosine statistic>" matches too."""
        for name, text in self.statistics:
            if name == stat:
                return text
        for name, text in self.statistics:
            parts = re.split(r"(\{[^}]*\}|<[^>]*>)", name)
            if len(parts) > 1 and re.fullmatch("".join(".+" if p[:1] in "{<" else re.escape(p) for p in parts), stat):
                return text
        return ""

    def validate_params(self, raw: Mapping[str, Any] | None) -> dict:
        """Normalised params (defaults filled) or RecipeError with a one-line reason."""
        raw = dict(raw or {})
        unknown = sorted(set(raw) - set(self.param_doc), key=str)
        if unknown:
            shown = ", ".join(repr(str(n)[:40] + ("..." if len(str(n)) > 40 else "")) for n in unknown[:5])
            raise RecipeError(f"{self.name}: unknown parameter(s) {shown}; "
                              f"known: {', '.join(self.param_doc)}")
        out: dict[str, Any] = {}
        for p in self.params:
            if p.name not in raw:
                if p.required:
                    raise RecipeError(f"{self.name}: parameter {p.name!r} is required ({p.doc})")
                if p.default is not None or not p.omit_none:
                    out[p.name] = p.default
                continue
            try:
                value = p.parse(raw[p.name])
            except ValueError as exc:
                raise RecipeError(f"{self.name}: parameter {p.name!r}: {exc}") from None
            if value is not None or not p.omit_none:
                out[p.name] = value
        try:
            self.check(out, raw)
        except ValueError as exc:
            raise RecipeError(f"{self.name}: {exc}") from None
        return out

    def statistic_keys(self, params: Mapping[str, Any]) -> frozenset[str]:
        """Statistics a run with these (raw or normalised) params produces."""
        return self.keys(self.validate_params(params))

    def accepts(self, name: str, params: Mapping[str, Any]) -> bool:
        """May a question name statistic `name` of a figure with these params?"""
        normalised = self.validate_params(params)
        return name in self.keys(normalised) or any(re.fullmatch(p, name) for p in self.patterns(normalised))


# --- parsers: each returns the normalised value or raises ValueError(reason) ---------------

def choice(*options: str) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        if value not in options or not isinstance(value, str):
            raise ValueError(f"must be one of {', '.join(map(repr, options))}, got {value!r}")
        return value
    return parse


def boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"must be true or false, got {value!r}")
    return value


def integer(lo: int | None = None, hi: int | None = None) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"must be a whole number, got {value!r}")
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            bounds = f"from {lo} to {hi}" if hi is not None else f">= {lo}"
            raise ValueError(f"must be {bounds}, got {value}")
        return value
    return parse


def text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or "\n" in value:
        raise ValueError(f"must be a non-empty one-line string, got {value!r}")
    return value.strip()


def optional(parse: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda value: None if value is None else parse(value)


def label_text(value: Any) -> str:
    """A display name: one line of at most MAX_LABEL_CHARS characters, no control characters."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f'must be a non-empty string such as "GPT-2 small", got {value!r}'[:120])
    if any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in value):
        raise ValueError("holds a control character (a line break, tab, ...); write it on one line")
    if "<" in value or ">" in value:  # plotly reads <b>, <a href=...> in titles as markup
        raise ValueError("must not contain < or > (figure titles would read them as markup)")
    if len(value.strip()) > MAX_LABEL_CHARS:
        raise ValueError(f"at most {MAX_LABEL_CHARS} characters, got {len(value.strip())}")
    return value.strip()


# The one parameter every recipe takes (appended by RecipeSpec). Left out of the normalised
# params when not given, so figures without a label keep their params key (no recompute);
# a label that is set is part of the key: changing it recomputes the figure.
LABEL = Param("label", "the model's name on the figure and its caption, instead of its reference "
                       f'(e.g. "GPT-Neo 125M"; at most {MAX_LABEL_CHARS} characters); changing it '
                       "recomputes the figure", optional(label_text), None, omit_none=True)
