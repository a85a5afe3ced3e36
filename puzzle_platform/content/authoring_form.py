"""The structured editor's figures and questions: form fields <-> the puzzle.toml tables.

The mentor edits figures and questions as fields (figures-0-key, figures-0-param-model,
questions-1-grader-param-scale, questions-2-rubric-0-points...); this module turns those
fields into the [[figures]] / [[questions]] tables that `files.spec_from_table` validates, and
back, so the form and the expert TOML view round-trip. Values are kept as typed (strings)
until the conversion, so a refused form comes back unchanged. Add/remove/move buttons are
`op` values applied here to the rows; they never save anything.
"""
from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass, field
from typing import Any, Mapping

import tomlkit

from graders import GRADERS

from ..recipes import RECIPES

MAX_ROWS = 50  # figures, questions or rubric items a form may hold
TEXT_TRUTHS = ("choice", "text")  # kinds whose truth is text, typed as is (never TOML)


class FormError(ValueError):
    """A form that cannot be converted (e.g. TOML that does not parse); nothing was saved."""


@dataclass
class FigureRow:
    key: str = ""
    title: str = ""
    recipe: str = "embedding_cosine"
    params: dict[str, str] = field(default_factory=dict)


@dataclass
class RubricRow:
    id: str = ""
    description: str = ""
    points: str = ""


@dataclass
class QuestionRow:
    key: str = ""
    prompt: str = ""
    kind: str = "numeric"
    mode: str = ""  # "": the kind's default
    grader: str = "interval"
    params: dict[str, str] = field(default_factory=dict)
    statistic: str = ""
    statistic_other: str = ""  # a statistic typed by hand (per-layer names of unknown models)
    truth: str = ""
    points: str = ""
    max_attempts: str = ""
    unit: str = ""
    choices: str = ""  # one per line
    word_budget: str = ""
    rubric: list[RubricRow] = field(default_factory=list)


@dataclass
class Rows:
    figures: list[FigureRow] = field(default_factory=list)
    questions: list[QuestionRow] = field(default_factory=list)


# --- values: TOML when they parse as one, plain text otherwise ------------------------------

def parse_value(text: str) -> Any:
    """A typed parameter value: a TOML value (0.5, true, [1, 2], "quoted") or plain text."""
    text = text.strip()
    try:
        value = tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text
    return value if isinstance(value, (str, int, float, bool, list, dict)) else text


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, str):
        return tomlkit.string(value).as_string()  # a basic string, escapes where needed
    return repr(value)


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else _toml_value(key)


def format_value(value: Any) -> str:
    """What a field shows for `value`: text as is when it reads back as itself, else TOML."""
    if value is None:
        return ""
    if isinstance(value, str) and "\n" not in value and parse_value(value) == value and value == value.strip():
        return value
    return _toml_value(value)


# --- request -> rows ----------------------------------------------------------------------

def _text(form: Mapping[str, str], name: str) -> str:
    return str(form.get(name, "") or "").replace("\r\n", "\n").replace("\r", "\n")


def _indices(form: Mapping[str, str], prefix: str, last: str = "key") -> list[int]:
    """The row numbers present in the form, in order (a row is there when its `last` field is)."""
    pattern = re.compile(rf"^{re.escape(prefix)}(\d{{1,3}})-{last}$")
    found = sorted({int(m.group(1)) for name in form if (m := pattern.match(name))})
    what = prefix.rstrip("-").split("-")[-1]
    _check_count(len(found), "rubric items" if what == "rubric" else what)
    return found


def _check_count(count: int, what: str) -> None:
    """More rows than the form holds is refused, never cut silently."""
    if count > MAX_ROWS:
        raise FormError(f"{count} {what}: the form holds at most {MAX_ROWS}; edit such a puzzle as TOML")


def _params(form: Mapping[str, str], prefix: str) -> dict[str, str]:
    return {name[len(prefix):]: _text(form, name) for name in form
            if name.startswith(prefix) and len(name) > len(prefix)}


def rows_from_request(form: Mapping[str, str]) -> Rows:
    """The figures and questions as typed into the structured form."""
    rows = Rows()
    for i in _indices(form, "figures-"):
        p = f"figures-{i}-"
        rows.figures.append(FigureRow(_text(form, p + "key").strip(), _text(form, p + "title"),
                                      _text(form, p + "recipe").strip(), _params(form, p + "param-")))
    for i in _indices(form, "questions-"):
        p = f"questions-{i}-"
        rubric = [RubricRow(_text(form, f"{p}rubric-{j}-id").strip(), _text(form, f"{p}rubric-{j}-description"),
                            _text(form, f"{p}rubric-{j}-points"))
                  for j in _indices(form, p + "rubric-", "id")]
        values = {name: _text(form, p + name) for name in (
            "prompt", "kind", "mode", "grader", "statistic", "statistic_other", "truth", "points",
            "max_attempts", "unit", "choices", "word_budget")}
        rows.questions.append(QuestionRow(key=_text(form, p + "key").strip(), params=_params(form, p + "grader-param-"),
                                          rubric=rubric, **values))
    return rows


# --- rows <-> tables --------------------------------------------------------------------------

def _put(table: dict, name: str, text: str) -> None:
    if text.strip():
        table[name] = parse_value(text)


def _figure_table(row: FigureRow) -> dict:
    table: dict = {"key": row.key}
    if row.title.strip():
        table["title"] = row.title.strip()
    table["recipe"] = row.recipe
    known = RECIPES[row.recipe].param_doc if row.recipe in RECIPES else row.params
    params: dict = {}
    for name in known:  # the recipe's order; inputs of a previous recipe are left behind
        _put(params, name, row.params.get(name, ""))
    if params:
        table["params"] = params
    return table


def _question_table(row: QuestionRow) -> dict:
    table: dict = {"key": row.key, "prompt": row.prompt.strip(), "kind": row.kind}
    if row.kind == "explanation":
        for name in ("points", "max_attempts", "word_budget"):
            _put(table, name, getattr(row, name))
        table["rubric"] = [{"id": r.id, "description": r.description.strip(),
                            **({"points": parse_value(r.points)} if r.points.strip() else {})}
                           for r in row.rubric]
        return table
    if row.mode:
        table["mode"] = row.mode
    table["grader"] = row.grader
    statistic = row.statistic_other.strip() or row.statistic.strip()
    if statistic:
        table["statistic"] = statistic
    if row.truth.strip():
        table["truth"] = row.truth if row.kind in TEXT_TRUTHS else parse_value(row.truth)
    for name in ("points", "max_attempts"):
        _put(table, name, getattr(row, name))
    if row.unit.strip():
        table["unit"] = row.unit.strip()
    if row.kind == "choice":
        # As typed (blank lines dropped): a choice's spaces are part of it, as in the file.
        table["choices"] = [line for line in row.choices.split("\n") if line.strip()]
    params: dict = {}
    # the grader's own parameters, in its order: inputs of a previously chosen grader (the
    # select changed without "Update fields") are left behind, as for a figure's recipe
    known = GRADERS[row.grader].param_doc if row.grader in GRADERS else row.params
    for name in known:
        _put(params, name, row.params.get(name, ""))
    if params:
        table["grader_params"] = params
    return table


def table_from_rows(rows: Rows) -> dict:
    """The [[figures]] and [[questions]] tables of the form (blank fields left out)."""
    table: dict = {}
    if rows.figures:
        table["figures"] = [_figure_table(f) for f in rows.figures]
    if rows.questions:
        table["questions"] = [_question_table(q) for q in rows.questions]
    return table


def _texts(table: object) -> dict[str, str]:
    return {str(k): format_value(v) for k, v in table.items()} if isinstance(table, dict) else {}


def rows_from_table(table: Mapping[str, Any]) -> Rows:
    """The form's rows for parsed [[figures]] / [[questions]] tables (the TOML view's)."""
    rows = Rows()
    for name in ("figures", "questions"):
        _check_count(len(table.get(name) or []), name)
    for raw in table.get("figures") or []:
        raw = raw if isinstance(raw, dict) else {}
        rows.figures.append(FigureRow(str(raw.get("key", "")), str(raw.get("title", "")),
                                      str(raw.get("recipe", "")), _texts(raw.get("params"))))
    for raw in table.get("questions") or []:
        raw = raw if isinstance(raw, dict) else {}
        choices, truth = raw.get("choices"), raw.get("truth")
        kind = str(raw.get("kind", "numeric"))
        rubric = [RubricRow(str(r.get("id", "")), str(r.get("description", "")), format_value(r.get("points")))
                  for r in raw.get("rubric") or [] if isinstance(r, dict)]
        rows.questions.append(QuestionRow(
            key=str(raw.get("key", "")), prompt=str(raw.get("prompt", "")), kind=kind,
            mode=str(raw.get("mode", "")), grader=str(raw.get("grader", "")), params=_texts(raw.get("grader_params")),
            statistic=str(raw.get("statistic", "") or ""),
            truth=truth if kind in TEXT_TRUTHS and isinstance(truth, str) else format_value(truth),
            points=format_value(raw.get("points")), max_attempts=format_value(raw.get("max_attempts")),
            unit=str(raw.get("unit", "")), word_budget=format_value(raw.get("word_budget")),
            choices="\n".join(map(str, choices)) if isinstance(choices, list) else "", rubric=rubric))
    return rows


def rows_from_toml(text: str) -> Rows:
    """The TOML view's text as rows; FormError(reason) when it cannot be shown as a form."""
    from .text_checks import toml_error_hint
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise FormError(f"questions and figures: not valid TOML: {toml_error_hint(str(exc))}") from None
    extra = sorted(set(table) - {"figures", "questions"})
    if extra:
        raise FormError(f"questions and figures: only [[figures]] and [[questions]] can be shown as "
                        f"a form (found {', '.join(extra)})")
    for name in ("figures", "questions"):
        if not isinstance(table.get(name, []), list):
            raise FormError(f"questions and figures: {name} must be [[{name}]] tables")
    return rows_from_table(table)


# --- add / remove / move -------------------------------------------------------------------

OP_RE = re.compile(r"^(add|remove|up|down)-(figure|question|rubric)(?:-(\d{1,3}))?(?:-(\d{1,3}))?$")


def _move(items: list, i: int | None, action: str, new) -> None:
    if action == "add":
        if len(items) < MAX_ROWS:
            items.append(new())
        return
    if i is None or not 0 <= i < len(items):
        return
    if action == "remove":
        del items[i]
    elif action == "up" and i > 0:
        items[i - 1], items[i] = items[i], items[i - 1]
    elif action == "down" and i + 1 < len(items):
        items[i + 1], items[i] = items[i], items[i + 1]


def _fresh_key(prefix: str, taken: list[str]) -> str:
    n = 1
    while f"{prefix}{n}" in taken:
        n += 1
    return f"{prefix}{n}"


def apply_op(rows: Rows, op: str) -> bool:
    """Apply an add/remove/up/down `op` (e.g. "remove-question-2", "add-rubric-1") to rows in
    place; False when `op` is not one of them."""
    match = OP_RE.match(op)
    if not match:
        return False
    action, what, first, second = match.groups()
    a = int(first) if first is not None else None
    b = int(second) if second is not None else None
    if what == "figure":
        _move(rows.figures, a, action,
              lambda: FigureRow(key=_fresh_key("fig", [f.key for f in rows.figures])))
    elif what == "question":
        _move(rows.questions, a, action,
              lambda: QuestionRow(key=_fresh_key("q", [q.key for q in rows.questions])))
    elif a is not None and 0 <= a < len(rows.questions):
        rubric = rows.questions[a].rubric
        _move(rubric, a if action == "add" else b, action, RubricRow)
    return True
