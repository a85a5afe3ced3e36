"""Read and validate puzzle folders (`puzzles/NN-slug/`): puzzle.toml, statement.md, answer.md.

Everything a puzzle file can get wrong is caught here, at load time, with the file and the
reason: unknown graders or recipes, bad parameters, a statistic no figure produces, a bad
schedule. Nothing is written to the database by this module.
"""
from __future__ import annotations

import hashlib
import json
import math
import re
import tomllib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Mapping

from graders import GraderParamsError, UnknownGrader, get_grader

from ..markdown import MAX_MARKDOWN_CHARS
from ..models.puzzle import QUESTION_KINDS, QUESTION_MODES
from ..grading.explanations import DEFAULT_VERSIONS, GRADER, parse_rubric
from ..recipes import RecipeError, get_recipe
from ..recipes._inputs import inline_prompts_file
from ..recipes.local import LocalRecipe, is_local, local_statistics, read_local_recipes
from ..recipes.sources import model_problem
from ..timeutil import parse_utc
from .text_checks import check_strings, escape_views, toml_error_hint

FOLDER_RE = re.compile(r"^(\d{1,4})-([a-z0-9][a-z0-9-]{0,78})$")
SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,78}$")
MAX_NUMBER = 9999
KEY_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
PUZZLE_KEYS = {"title", "summary", "release_at", "deadline_at", "reveal_at", "figures", "questions",
               "recipes"}
FIGURE_KEYS = {"key", "title", "recipe", "params"}
QUESTION_KEYS = {"key", "prompt", "kind", "mode", "grader", "grader_params", "points", "max_attempts",
                 "statistic", "truth", "unit", "choices", "rubric", "word_budget"}
# Without max_attempts: a challenge gives 5 attempts, a forecast 100 revisions.
DEFAULT_ATTEMPTS = {"challenge": 5, "forecast": 100}


class PuzzleFileError(ValueError):
    """An invalid puzzle folder; str() is 'path: reason'."""

    def __init__(self, path: Path, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path, self.reason = path, reason


@dataclass
class FigureSpec:
    key: str
    title: str
    recipe: str
    params: dict


@dataclass
class QuestionSpec:
    key: str
    prompt_md: str
    kind: str
    mode: str
    grader: str
    grader_params: dict
    points: float
    max_attempts: int
    statistic: str | None
    truth_literal: dict | None
    unit: str
    choices: list | None
    word_budget: int | None = None              # explanations only
    rubric: list = field(default_factory=list)  # explanations only: RubricSpec items


@dataclass
class PuzzleSpec:
    folder: Path
    number: int
    slug: str
    title: str
    summary: str
    statement_md: str
    answer_md: str
    release_at: datetime
    deadline_at: datetime
    reveal_at: datetime
    figures: list[FigureSpec] = field(default_factory=list)
    questions: list[QuestionSpec] = field(default_factory=list)

    def source_hash(self) -> str:
        """A hash of the whole normalised spec: equal hash, nothing to sync."""
        data = {k: v for k, v in self.__dict__.items() if k != "folder"}
        blob = json.dumps(data, default=str, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()


def _unknown(table: dict, allowed: set[str], where: str) -> str | None:
    extra = sorted(set(table) - allowed)
    return f"{where}: unknown field(s) {', '.join(extra)}; allowed: {', '.join(sorted(allowed))}" if extra else None


def _key(raw: dict, where: str) -> str:
    key = raw.get("key")
    if key is None:
        raise ValueError(f"{where}: key is required")
    if not isinstance(key, str) or not KEY_RE.match(key):
        raise ValueError(f"{where}: key {key!r} must be lowercase letters, digits and _, starting with a letter")
    return key


def _entry(raw: object, where: str, allowed: set[str]) -> str:
    """The checks every [[figures]] / [[questions]] entry starts with; returns its key."""
    if not isinstance(raw, dict):
        raise ValueError(f"{where} must be a table")
    if msg := _unknown(raw, allowed, where):
        raise ValueError(msg)
    return _key(raw, where)


def _local_recipe(name: str, local: dict[str, LocalRecipe] | None) -> LocalRecipe:
    if local is None:
        raise ValueError(f"recipe {name!r} is a puzzle-local recipe (recipe.py in a puzzle folder): "
                         "it runs only from a folder loaded by `manage.py puzzles sync`, never from "
                         "the web form")
    if name not in local:
        raise ValueError(f"recipe {name!r} is not declared in this puzzle's [[recipes]]"
                         f" (declared: {', '.join(local) or 'none'})")
    return local[name]


def _figure(raw: dict, index: int, folder: Path | None = None,
            local: dict[str, LocalRecipe] | None = None, escaped: Mapping[str, str] | None = None) -> FigureSpec:
    """One figure; `folder` (a puzzle folder on disk) is where its prompts_file is read, and
    `local` its declared puzzle-local recipes (None: not loaded from a folder); `escaped`: see
    `check_strings`."""
    key = _entry(raw, f"figures[{index}]", FIGURE_KEYS)
    for name in ("title", "params"):
        check_strings(raw.get(name), f"figure {key!r}: {'parameter' if name == 'params' else name}", escaped)
    if not isinstance(raw.get("params") or {}, dict):
        raise ValueError(f"figure {key!r}: params must be a table, e.g. {{ model = \"gpt2-small\" }}")
    name = str(raw.get("recipe", ""))
    try:
        if is_local(name):
            params = _local_recipe(name, local).figure_params(raw.get("params") or {})
        else:
            name = get_recipe(name).name
            params = get_recipe(name).validate_params(inline_prompts_file(raw.get("params") or {}, folder))
    except (RecipeError, ValueError) as exc:
        raise ValueError(f"figure {key!r}: {exc}") from None
    if problem := figure_model_problem(name, params):
        raise ValueError(f"figure {key!r}: {problem}")
    title = str(raw.get("title") or key)
    if len(title) > 200:
        raise ValueError(f"figure {key!r}: title must be at most 200 characters")
    return FigureSpec(key, title, name, params)


def figure_model_problem(recipe: str, params: dict) -> str | None:
    """Why the site's model policy refuses the model a figure names (recipes/sources.py); a
    local recipe's string parameter named `model` is checked the same way."""
    if is_local(recipe):
        model = params.get("model")
        return model_problem(model) if isinstance(model, str) else None
    if "model" not in get_recipe(recipe).param_doc:
        return None
    return model_problem(params["model"])


def statistic_keys(recipe: str, params: dict) -> frozenset[str]:
    """The statistics a figure of `recipe` with (normalised) `params` produces."""
    if is_local(recipe):
        return local_statistics(params)
    return get_recipe(recipe).statistic_keys(params)


def _check_mode(where: str, mode: str, grader: str, params: dict) -> None:
    """What each mode allows: a challenge tells right or wrong at once, so its points must be
    all or nothing (a continuous score would tell how far off the answer is); a forecast
    tells nothing before the reveal, so it has no hints."""
    if mode == "challenge":
        if grader == "interval":
            raise ValueError(f"{where}: a challenge is all or nothing, and the interval grader's "
                             "score is continuous; use abs_tol or rel_tol, or mode = \"forecast\"")
        if "partial_until" in params and params["partial_until"] > params.get("tolerance", 0):
            raise ValueError(f"{where}: a challenge is all or nothing: partial_until (partial "
                             "credit) is only for forecasts")
    elif params.get("hint"):
        raise ValueError(f"{where}: hints (\"too high\"/\"too low\") are for challenges; a "
                         "forecast gets no feedback before the reveal")


def _check_shared_figures(questions: list[QuestionSpec]) -> None:
    """A challenge's right/wrong (and hints) would reveal a forecast's truth before the reveal
    if they read the same figure: refused."""
    forecasts = {q.statistic.split(".", 1)[0]: q.key for q in questions
                 if q.mode == "forecast" and q.statistic}
    for q in questions:
        figure = q.statistic.split(".", 1)[0] if q.statistic else None
        if q.mode == "challenge" and figure in forecasts:
            raise ValueError(f"question {q.key!r}: a challenge cannot read figure {figure!r}, which the "
                             f"forecast {forecasts[figure]!r} reads: its right/wrong answers would tell "
                             "the forecast's truth before the reveal; give it its own figure or make it a "
                             "forecast")


def _question(raw: dict, index: int, figures: dict[str, FigureSpec],
              escaped: Mapping[str, str] | None = None) -> QuestionSpec:
    key = _entry(raw, f"questions[{index}]", QUESTION_KEYS)
    where = f"question {key!r}"
    for name in ("prompt", "unit", "choices", "truth", "grader_params", "rubric"):
        check_strings(raw.get(name), f"{where}: {name}", escaped)
    kind = raw.get("kind", "numeric")
    if kind not in QUESTION_KINDS:
        raise ValueError(f"{where}: kind must be one of {', '.join(QUESTION_KINDS)}")
    prompt = raw.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise ValueError(f"{where}: prompt is required")
    if kind == "explanation":
        return explanation_question(raw, key, where, prompt.strip())
    for name in ("rubric", "word_budget"):
        if name in raw:
            raise ValueError(f"{where}: {name} is only for kind = \"explanation\"")
    mode = raw.get("mode", "forecast" if kind in ("numeric", "interval") else "challenge")
    if mode not in QUESTION_MODES:
        raise ValueError(f"{where}: mode must be one of {', '.join(QUESTION_MODES)}")
    if mode == "forecast" and kind not in ("numeric", "interval"):
        raise ValueError(f"{where}: {kind} questions are challenges (right or wrong at once); "
                         "set mode = \"challenge\" or leave mode out")
    choices = raw.get("choices")
    if kind == "choice":
        if not isinstance(choices, list) or not choices or not all(isinstance(c, str) and c for c in choices):
            raise ValueError(f"{where}: a choice question needs a non-empty list of choices")
    elif choices is not None:
        raise ValueError(f"{where}: choices are only for kind = \"choice\"")
    if not isinstance(raw.get("grader_params") or {}, dict):
        raise ValueError(f"{where}: grader_params must be a table, e.g. {{ scale = 0.5 }}")
    grader_params = dict(raw.get("grader_params") or {})
    if kind == "choice":
        grader_params.setdefault("options", choices)
    try:
        grader = get_grader(str(raw.get("grader", "")))
        if kind not in grader.kinds:
            raise ValueError(f"{where}: grader {grader.name!r} does not grade {kind} questions "
                             f"(it grades {', '.join(sorted(grader.kinds))})")
        grader_params = grader.validate_params(grader_params)
    except (UnknownGrader, GraderParamsError) as exc:
        raise ValueError(f"{where}: {exc}") from None
    _check_mode(where, mode, grader.name, grader_params)
    points = raw.get("points", 10)
    if isinstance(points, bool) or not isinstance(points, (int, float)) or not math.isfinite(points) or points <= 0:
        raise ValueError(f"{where}: points must be a number > 0")
    attempts = raw.get("max_attempts", DEFAULT_ATTEMPTS[mode])
    if isinstance(attempts, bool) or not isinstance(attempts, int) or not 1 <= attempts <= 1000:
        raise ValueError(f"{where}: max_attempts must be a whole number from 1 to 1000")
    statistic, truth = raw.get("statistic"), raw.get("truth")
    if (statistic is None) == (truth is None):
        raise ValueError(f"{where}: give exactly one of statistic (\"figure_key.stat\") or truth")
    if statistic is not None:
        fig_key, _, stat = str(statistic).partition(".")
        if fig_key not in figures:
            raise ValueError(f"{where}: statistic {statistic!r} names no figure of this puzzle "
                             f"(figures: {', '.join(figures) or 'none'})")
        figure = figures[fig_key]
        known = statistic_keys(figure.recipe, figure.params)
        if stat not in known and (is_local(figure.recipe) or not get_recipe(figure.recipe).accepts(stat, figure.params)):
            raise ValueError(f"{where}: figure {fig_key!r} does not produce {stat!r}; "
                             f"it produces {', '.join(sorted(known))}")
    else:
        try:
            grader.validate_truth(truth, grader_params)
        except GraderParamsError as exc:
            raise ValueError(f"{where}: truth: {exc}") from None
    if len(str(raw.get("unit", ""))) > 32:
        raise ValueError(f"{where}: unit must be at most 32 characters")
    return QuestionSpec(key, prompt.strip(), kind, mode, grader.name, grader_params, float(points),
                        attempts, statistic, None if truth is None else {"value": truth},
                        str(raw.get("unit", "")), choices)


def explanation_question(raw: dict, key: str, where: str, prompt: str) -> QuestionSpec:
    """A written answer graded by mentors with a rubric: always a forecast (its points count
    at the reveal), with no grader, statistic or truth."""
    if raw.get("mode", "forecast") != "forecast":
        raise ValueError(f"{where}: explanations are forecasts (graded by mentors, counted at the "
                         "reveal); leave mode out")
    for name in ("grader", "grader_params", "statistic", "truth", "choices", "unit"):
        if name in raw:
            raise ValueError(f"{where}: an explanation has no {name}: mentors grade it with its rubric")
    points = raw.get("points", 10)
    if isinstance(points, bool) or not isinstance(points, (int, float)) or not math.isfinite(points) or points <= 0:
        raise ValueError(f"{where}: points must be a number > 0")
    versions = raw.get("max_attempts", DEFAULT_VERSIONS)
    if isinstance(versions, bool) or not isinstance(versions, int) or not 1 <= versions <= 1000:
        raise ValueError(f"{where}: max_attempts (versions of the answer) must be a whole number from 1 to 1000")
    budget = raw.get("word_budget")
    if budget is not None and (isinstance(budget, bool) or not isinstance(budget, int) or not 1 <= budget <= 2000):
        raise ValueError(f"{where}: word_budget must be a whole number of words from 1 to 2000")
    rubric = parse_rubric(raw.get("rubric"), float(points), where)
    return QuestionSpec(key, prompt, "explanation", "forecast", GRADER, {}, float(points), versions,
                        None, None, "", None, budget, rubric)


def check_markdown(text: str) -> None:
    """Markdown over the size limit is refused (files and web form alike); ValueError(reason)."""
    if len(text) > MAX_MARKDOWN_CHARS:
        raise ValueError(f"longer than {MAX_MARKDOWN_CHARS} characters")


def check_identity(number: object, slug: object) -> tuple[int, str]:
    """A puzzle's number and slug as its folder name `NN-slug` allows them; ValueError(reason)."""
    if isinstance(number, bool) or not isinstance(number, int) or not 0 <= number <= MAX_NUMBER:
        raise ValueError(f"number must be a whole number from 0 to {MAX_NUMBER}")
    if not isinstance(slug, str) or not SLUG_RE.match(slug):
        raise ValueError("slug must be lowercase letters, digits and -, starting with a letter or "
                         "digit, at most 79 characters")
    return number, slug


def _markdown(folder: Path, name: str) -> str:
    path = folder / name
    if not path.is_file():
        raise PuzzleFileError(path, "file is missing")
    text = path.read_text(encoding="utf-8")
    try:
        check_markdown(text)
    except ValueError as exc:
        raise PuzzleFileError(path, str(exc)) from None
    return text


def spec_from_table(data: dict, *, number: int, slug: str, statement_md: str, answer_md: str,
                    folder: Path, on_disk: bool = False,
                    escaped: Mapping[str, str] | None = None) -> PuzzleSpec:
    """Validate a puzzle.toml table plus its Markdown into a PuzzleSpec; ValueError(reason).

    The one validation of a puzzle: the folder loader and the mentors' web form both call it,
    so a puzzle accepted in one place is accepted in the other. `escaped` is
    `text_checks.escape_views` of the TOML text `data` was read from (None: typed fields).
    """
    number, slug = check_identity(number, slug)
    for name, text in (("statement", statement_md), ("answer", answer_md)):
        try:
            check_markdown(text)
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None
    if msg := _unknown(data, PUZZLE_KEYS, "puzzle"):
        raise ValueError(msg)
    for name in ("title", "summary"):
        check_strings(data.get(name), name, escaped)
    title = data.get("title")
    if not isinstance(title, str) or not title.strip():
        raise ValueError("title is required")
    if len(title.strip()) > 200:
        raise ValueError("title must be at most 200 characters")
    summary = str(data.get("summary", "")).strip()
    if len(summary) > 500:
        raise ValueError("summary must be at most 500 characters")
    times = {}
    for name in ("release_at", "deadline_at", "reveal_at"):
        if name not in data:
            raise ValueError(f"{name} is required")
        try:
            times[name] = parse_utc(data[name] if isinstance(data[name], datetime) else str(data[name]))
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None
    if not times["release_at"] <= times["deadline_at"] <= times["reveal_at"]:
        raise ValueError("schedule must satisfy release_at <= deadline_at <= reveal_at")
    if on_disk:
        local = read_local_recipes(data.get("recipes"), folder)
    elif data.get("recipes") is not None:
        raise ValueError("[[recipes]] (puzzle-local recipes) are read only from a puzzle folder "
                         "with its recipe.py (`manage.py puzzles sync`), never from the web form")
    else:
        local = None
    figures = [_figure(f, i, folder if on_disk else None, local, escaped)
               for i, f in enumerate(data.get("figures") or [])]
    fig_map = {f.key: f for f in figures}
    if len(fig_map) != len(figures):
        raise ValueError("figure keys must be unique")
    questions = [_question(q, i, fig_map, escaped) for i, q in enumerate(data.get("questions") or [])]
    if len({q.key for q in questions}) != len(questions):
        raise ValueError("question keys must be unique")
    _check_shared_figures(questions)
    if not questions:
        raise ValueError("a puzzle needs at least one question")
    return PuzzleSpec(folder, number, slug, title.strip(), summary, statement_md, answer_md,
                      times["release_at"], times["deadline_at"], times["reveal_at"], figures, questions)


def load_puzzle(folder: Path) -> PuzzleSpec:
    """Load and validate one puzzle folder; raises PuzzleFileError naming the file."""
    match = FOLDER_RE.match(folder.name)
    if not match:
        raise PuzzleFileError(folder, "folder name must be NN-slug, e.g. 01-suspiciously-similar-embeddings")
    toml_path = folder / "puzzle.toml"
    if not toml_path.is_file():
        raise PuzzleFileError(toml_path, "file is missing")
    try:
        text = toml_path.read_text(encoding="utf-8")
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PuzzleFileError(toml_path, f"not valid TOML: {toml_error_hint(str(exc))}") from None
    try:
        spec = spec_from_table(data, number=int(match.group(1)), slug=match.group(2),
                               statement_md="", answer_md="", folder=folder, on_disk=True,
                               escaped=escape_views(text))
    except ValueError as exc:
        raise PuzzleFileError(toml_path, str(exc)) from None
    spec.statement_md = _markdown(folder, "statement.md")
    spec.answer_md = _markdown(folder, "answer.md")
    return spec


def load_all(root: Path) -> list[PuzzleSpec]:
    """Load every puzzle folder under root; the first invalid one raises."""
    if not root.is_dir():
        raise PuzzleFileError(root, "puzzles folder not found")
    specs = [load_puzzle(p) for p in sorted(root.iterdir()) if p.is_dir() and not p.name.startswith((".", "_"))]
    for attr in ("number", "slug"):
        seen: dict = {}
        for spec in specs:
            value = getattr(spec, attr)
            if value in seen:
                raise PuzzleFileError(spec.folder, f"{attr} {value} is also used by {seen[value].name}")
            seen[value] = spec.folder
    return specs

