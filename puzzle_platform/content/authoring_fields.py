"""What the structured editor shows beside each field, from the registries.

For each figure: the recipe's parameters with their docs and defaults, and the statistics the
figure (with the parameters as typed) produces, each with its definition; for each question:
the graders of its kind with their parameters, the defaults of mode and attempts, and the
statistics of the form's current figures to pick from.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from graders import GRADERS, Grader

from ..grading.explanations import DEFAULT_VERSIONS
from ..recipes import RECIPES, RecipeSpec
from ..recipes._spec import _MISSING
from .authoring_form import FigureRow, QuestionRow, Rows, format_value, parse_value
from .files import DEFAULT_ATTEMPTS

KINDS = ("numeric", "interval", "choice", "text", "explanation")
MODES = ("forecast", "challenge")


@dataclass
class ParamField:
    name: str
    doc: str
    value: str
    default: str = ""        # shown beside the input and as its placeholder
    required: bool = False


@dataclass
class FigureView:
    index: int
    row: FigureRow
    spec: RecipeSpec | None
    params: list[ParamField] = field(default_factory=list)
    statistics: list[tuple[str, str]] = field(default_factory=list)  # (name, definition)
    patterns: list[str] = field(default_factory=list)               # names typed by hand
    problem: str = ""        # why its statistics cannot be listed yet


@dataclass
class QuestionView:
    index: int
    row: QuestionRow
    graders: list[Grader]
    grader: Grader | None
    params: list[ParamField]
    default_mode: str
    default_attempts: int
    statistic_options: list[tuple[str, str]]  # ("figure.stat", definition)
    definition: str = ""     # of the statistic chosen


def recipe_choices() -> list[RecipeSpec]:
    """Recipes offered on the web (puzzle-local ones live in their folders)."""
    return sorted(RECIPES.values(), key=lambda r: r.name)


def _shown_default(default: object) -> str:
    return "none" if default is None else format_value(default)


def _figure_view(index: int, row: FigureRow) -> FigureView:
    spec = RECIPES.get(row.recipe)
    view = FigureView(index, row, spec)
    if spec is None:
        view.problem = f"unknown recipe {row.recipe!r}" if row.recipe else "choose a recipe"
        return view
    raw = {}
    for p in spec.params:
        value = row.params.get(p.name, "")
        view.params.append(ParamField(p.name, p.doc, value, "" if p.default is _MISSING else _shown_default(p.default),
                                      p.default is _MISSING))
        if value.strip():
            raw[p.name] = parse_value(value)
    try:
        params = spec.validate_params(raw)
    except ValueError as exc:
        view.problem = str(exc)
        return view
    view.statistics = [(name, spec.definition(name)) for name in sorted(spec.keys(params))]
    view.patterns = [name for name, _ in spec.statistics if "{" in name] if spec.patterns(params) else []
    return view


def _question_view(index: int, row: QuestionRow, figures: list[FigureView]) -> QuestionView:
    graders = [] if row.kind == "explanation" else sorted(
        (g for g in GRADERS.values() if row.kind in g.kinds), key=lambda g: g.name)
    grader = GRADERS.get(row.grader) if row.kind != "explanation" else None
    params = [ParamField(name, doc, row.params.get(name, "")) for name, doc in (grader.param_doc.items() if grader else ())]
    default_mode = "forecast" if row.kind in ("numeric", "interval", "explanation") else "challenge"
    mode = row.mode if row.mode in DEFAULT_ATTEMPTS else default_mode
    attempts = DEFAULT_VERSIONS if row.kind == "explanation" else DEFAULT_ATTEMPTS[mode]
    options = [(f"{f.row.key}.{name}", text) for f in figures for name, text in f.statistics]
    chosen = dict(options).get(row.statistic, "")
    return QuestionView(index, row, graders, grader, params, default_mode, attempts, options, chosen)


def settle(rows: Rows) -> None:
    """After a kind changed (op=refresh): a grader that does not grade the new kind becomes the
    kind's first grader, and the old grader's parameters are dropped."""
    for row in rows.questions:
        names = sorted(g.name for g in GRADERS.values() if row.kind in g.kinds)
        if row.kind != "explanation" and names and row.grader not in names:
            row.grader, row.params = names[0], {}


def field_views(rows: Rows) -> tuple[list[FigureView], list[QuestionView]]:
    figures = [_figure_view(i, f) for i, f in enumerate(rows.figures)]
    return figures, [_question_view(i, q, figures) for i, q in enumerate(rows.questions)]
