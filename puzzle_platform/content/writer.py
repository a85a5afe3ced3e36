"""Write a PuzzleSpec back to its folder (puzzle.toml, statement.md, answer.md): the export.

The inverse of `puzzle_files.load_puzzle`: loading what is written here gives the same spec
(same source hash), so `puzzles sync` after an export reports "unchanged". Defaults are left
out by asking the loader's own validators which entries they would fill in anyway.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import tomli_w

from ..recipes.local import is_local, recipe_params
from ..grading.explanations import DEFAULT_VERSIONS
from .files import PuzzleSpec, _figure, _question
from ..timeutil import iso

TOML_HEADER = ("# Written by the mentor area's export; `manage.py puzzles sync` reads it back unchanged.\n"
               "# Times are UTC.\n")


def _tidy(table: dict, field: str, rebuild: Callable[[dict], object]) -> dict:
    """Leave out the entries of table[field] that rebuilding shows to be defaults.

    Defaults are whatever the validator fills in, so asking the validator (rather than
    keeping a second list of defaults here) keeps the written file minimal and exact.
    """
    target = rebuild(table)
    params = dict(table.get(field) or {})
    for name in list(params):
        trial = {k: v for k, v in params.items() if k != name}
        try:
            same = rebuild({**table, field: trial}) == target
        except ValueError:
            same = False
        if same:
            params = trial
    out = {k: v for k, v in table.items() if k != field}
    if params:
        out[field] = params
    return out


def _whole(x: float) -> int | float:
    return int(x) if float(x).is_integer() else x


def _explanation_table(q) -> dict:
    """An explanation question as puzzle.toml writes it: no grader or mode (implied), its
    rubric as [[questions.rubric]] tables."""
    raw: dict = {"key": q.key, "prompt": q.prompt_md, "kind": "explanation", "points": _whole(q.points)}
    if q.max_attempts != DEFAULT_VERSIONS:
        raw["max_attempts"] = q.max_attempts
    if q.word_budget is not None:
        raw["word_budget"] = q.word_budget
    raw["rubric"] = [{"id": r.key, "description": r.description, "points": _whole(r.points)} for r in q.rubric]
    return raw


def spec_to_table(spec: PuzzleSpec) -> dict:
    """The puzzle.toml table of a spec, defaults left out; loading it gives the same spec."""
    figures = []
    for i, f in enumerate(spec.figures):
        if is_local(f.recipe):  # shown in the web form as written; saving it there is refused
            figures.append({"key": f.key, "title": f.title, "recipe": f.recipe,
                            "params": recipe_params(f.params)})
            continue
        raw = {"key": f.key, "title": f.title, "recipe": f.recipe, "params": dict(f.params)}
        figures.append(_tidy(raw, "params", lambda t, i=i: _figure(t, i)))
    fig_map = {f.key: f for f in spec.figures}
    questions = []
    for i, q in enumerate(spec.questions):
        if q.kind == "explanation":
            questions.append(_explanation_table(q))
            continue
        raw: dict = {"key": q.key, "prompt": q.prompt_md, "kind": q.kind, "mode": q.mode, "grader": q.grader}
        if q.statistic is not None:
            raw["statistic"] = q.statistic
        else:
            raw["truth"] = (q.truth_literal or {}).get("value")
        raw.update(points=_whole(q.points), max_attempts=q.max_attempts)
        if q.unit:
            raw["unit"] = q.unit
        if q.choices is not None:
            raw["choices"] = list(q.choices)
        raw["grader_params"] = dict(q.grader_params)
        questions.append(_tidy(raw, "grader_params", lambda t, i=i: _question(t, i, fig_map)))
    table: dict = {"title": spec.title}
    if spec.summary:
        table["summary"] = spec.summary
    table.update(release_at=iso(spec.release_at), deadline_at=iso(spec.deadline_at),
                 reveal_at=iso(spec.reveal_at))
    if figures:
        table["figures"] = figures
    table["questions"] = questions
    return table


def dump_toml(table: dict) -> str:
    return tomli_w.dumps(table, multiline_strings=True)


def spec_files(spec: PuzzleSpec) -> dict[str, str]:
    """File name -> text of the folder that `load_puzzle` reads back as `spec`."""
    return {"puzzle.toml": TOML_HEADER + dump_toml(spec_to_table(spec)),
            "statement.md": spec.statement_md, "answer.md": spec.answer_md}


def write_puzzle_folder(spec: PuzzleSpec, root: Path) -> Path:
    """Write `root/NN-slug/` (each file replaced whole, never half-written); returns the folder."""
    folder = root / f"{spec.number:02d}-{spec.slug}"
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in spec_files(spec).items():
        tmp = folder / f".{name}.tmp"
        tmp.write_text(text, encoding="utf-8", newline="")
        tmp.replace(folder / name)
    return folder
