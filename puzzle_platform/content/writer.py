"""Write a PuzzleSpec back to its folder (puzzle.toml, statement.md, answer.md and the figures'
prompts files): the export, all or nothing.

The inverse of `puzzle_files.load_puzzle`: loading what is written here gives the same spec
(same source hash), so `puzzles sync` after an export reports "unchanged". Defaults are left
out by asking the loader's own validators which entries they would fill in anyway. An existing
puzzle.toml keeps its shape (comments, inline tables, key order, explicit defaults): the new
table is applied onto it by `toml_edit`, and only what changed is rewritten.
"""
from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import tomllib

from tomlkit.exceptions import TOMLKitError
import tomlkit

from ..recipes._inputs import read_prompts_file
from ..recipes.local import is_local, recipe_params
from ..grading.explanations import DEFAULT_VERSIONS
from .files import PuzzleSpec, _figure, _question, load_puzzle, spec_from_table
from .toml_edit import apply_aot, apply_entry, new_document, styled, unwrap
from ..timeutil import iso, parse_utc

TIME_KEYS = ("release_at", "deadline_at", "reveal_at")
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


def _without_defaults(table: dict, keys: tuple[str, ...], rebuild: Callable[[dict], object]) -> dict:
    """`table` without those of `keys` the validator would fill in with the same value (e.g.
    mode = "forecast" and max_attempts = 100 for a numeric question); `keys` in the order
    they are tried (max_attempts's default depends on mode)."""
    target = rebuild(table)
    for name in keys:
        if name not in table:
            continue
        trial = {k: v for k, v in table.items() if k != name}
        try:
            if rebuild(trial) == target:
                table = trial
        except ValueError:
            pass
    return table


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
        rebuild = lambda t, i=i: _question(t, i, fig_map)  # noqa: E731
        questions.append(_tidy(_without_defaults(raw, ("max_attempts", "mode"), rebuild),
                               "grader_params", rebuild))
    table: dict = {"title": spec.title}
    if spec.summary:
        table["summary"] = spec.summary
    table.update(release_at=iso(spec.release_at), deadline_at=iso(spec.deadline_at),
                 reveal_at=iso(spec.reveal_at))
    if figures:
        table["figures"] = figures
    table["questions"] = questions
    return table


def file_table(spec: PuzzleSpec) -> dict:
    """The table as puzzle.toml holds it: a figure with a prompts_file names only the file
    (its prompts go into that file, see prompt_files); `spec_to_table` keeps both, since the
    web form has no folder to read the file from."""
    table = spec_to_table(spec)
    for entry in table.get("figures", []):
        params = entry.get("params") or {}
        if params.get("prompts_file") is not None:
            params.pop("prompts", None)
    return table


def dump_toml(table: dict) -> str:
    """A table as new TOML text in the house style (inline tables, multi-line prompts)."""
    return new_document(table).as_string()


def _same_top(name: str, value: object, spec: PuzzleSpec) -> bool:
    """Does an old top-level value still say what the spec says (e.g. a time written another way)?"""
    try:
        if name in TIME_KEYS:
            return parse_utc(value if isinstance(value, datetime) else str(value)) == getattr(spec, name)
        if name in ("title", "summary"):
            return isinstance(value, str) and value.strip() == getattr(spec, name)
    except (ValueError, TypeError):
        return False
    return False


def _quiet(check: Callable[[], bool]) -> bool:
    try:
        return check()
    except (ValueError, TypeError, KeyError, AttributeError):
        return False


def merged_toml(old_text: str, spec: PuzzleSpec, folder: Path) -> str:
    """`old_text` changed only where `spec` differs from it (see toml_edit)."""
    doc = tomlkit.parse(old_text)
    table = file_table(spec)
    for name in list(doc):
        if name not in table and not (name == "summary" and _same_top(name, unwrap(doc[name]), spec)):
            del doc[name]
    for name, value in table.items():
        if name in ("figures", "questions"):
            continue
        if name not in doc or not _same_top(name, unwrap(doc[name]), spec):
            doc[name] = styled(value)
    figs = {f.key: f for f in spec.figures}
    qs = {q.key: q for q in spec.questions}
    rubric = {"rubric": ("id", lambda t, e, i: apply_entry(t, e))}

    def figure(t, entry: dict, i: int) -> None:
        apply_entry(t, entry, lambda raw: _quiet(lambda: _figure(raw, i, folder) == figs[entry["key"]]))

    def question(t, entry: dict, i: int) -> None:
        apply_entry(t, entry, lambda raw: _quiet(lambda: _question(raw, i, figs) == qs[entry["key"]]),
                    rubric)
    for name, fn in (("figures", figure), ("questions", question)):
        if name not in table:
            continue
        if name in doc and hasattr(doc[name], "body"):
            apply_aot(doc[name], table[name], "key", fn)
        else:
            doc[name] = new_document({name: table[name]})[name]
    return doc.as_string()


def _reads_back(text: str, spec: PuzzleSpec, folder: Path) -> bool:
    try:
        again = spec_from_table(tomllib.loads(text), number=spec.number, slug=spec.slug,
                                statement_md=spec.statement_md, answer_md=spec.answer_md,
                                folder=folder, on_disk=True)
    except (ValueError, tomllib.TOMLDecodeError):
        return False
    return again.source_hash() == spec.source_hash()


def puzzle_toml(spec: PuzzleSpec, old_text: str | None = None, folder: Path | None = None) -> str:
    """puzzle.toml for `spec`: `old_text` (the file there now) keeps its shape where it can;
    a file that cannot be edited so that it reads back as `spec` is written anew."""
    fresh = TOML_HEADER + dump_toml(file_table(spec))
    if old_text is None or folder is None:
        return fresh
    try:
        text = merged_toml(old_text, spec, folder)
    except (TOMLKitError, ValueError, TypeError, KeyError):
        return fresh
    return text if _reads_back(text, spec, folder) else fresh


def _prompts_text(name: str, prompts: list[str]) -> str:
    """A prompts_file's text that `read_prompts_file` reads back as exactly `prompts`: JSONL
    for a .jsonl name, else one prompt a line (ValueError when a prompt holds a line break)."""
    if Path(name).suffix == ".jsonl":
        lines = []
        for p in prompts:
            line = json.dumps({"text": p}, ensure_ascii=False)
            if line.splitlines() != [line]:  # e.g. U+2028, which splitlines breaks at
                line = json.dumps({"text": p})
            lines.append(line + "\n")
        return "".join(lines)
    for i, p in enumerate(prompts):
        if p.splitlines() != [p]:
            raise ValueError(f"prompt {i} holds a line break, which {name!r} (one prompt a line) "
                             "cannot hold; name a .jsonl file instead")
    return "".join(p + "\n" for p in prompts)


def prompt_files(spec: PuzzleSpec, folder: Path) -> dict[str, str]:
    """Name (inside `folder`) -> text of each prompts_file the figures name, for those that do
    not already hold the figure's prompts there. ValueError (no server path) when a name
    leaves the folder, clashes with the puzzle's own files, or two figures want different
    prompts in the same file."""
    base = folder.resolve()
    wanted: dict[str, tuple[str, list]] = {}  # file -> (first figure naming it, its prompts)
    out: dict[str, str] = {}
    for f in spec.figures:
        name, prompts = f.params.get("prompts_file"), f.params.get("prompts")
        if name is None:
            continue
        where = f"figure {f.key!r}: prompts_file {name!r}"
        if not isinstance(name, str) or not isinstance(prompts, list):
            raise ValueError(f"{where} has no prompts to write")
        path = (base / name).resolve()
        if not path.is_relative_to(base) or path == base:
            raise ValueError(f"{where} must be a file inside the puzzle folder")
        rel = path.relative_to(base).as_posix()
        if rel in ("puzzle.toml", "statement.md", "answer.md"):
            raise ValueError(f"{where} is one of the puzzle's own files")
        if rel in wanted:
            if wanted[rel][1] != prompts:
                raise ValueError(f"{where}: figure {wanted[rel][0]!r} names the same file with other prompts")
            continue
        wanted[rel] = (f.key, prompts)
        try:
            out[rel] = _prompts_text(name, prompts)
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
        try:
            if read_prompts_file(base, rel) == prompts:
                del out[rel]  # already there: its own layout kept
        except ValueError:
            pass
    return out


def spec_files(spec: PuzzleSpec, old_toml: str | None = None, folder: Path | None = None) -> dict[str, str]:
    """File name -> text of the folder that `load_puzzle` reads back as `spec` (`old_toml`:
    the puzzle.toml in `folder` now, whose shape is kept; `folder` must already hold the
    figures' prompts files, see prompt_files)."""
    return {"puzzle.toml": puzzle_toml(spec, old_toml, folder),
            "statement.md": spec.statement_md, "answer.md": spec.answer_md}


class ExportMismatch(RuntimeError):
    """The written folder loads as another puzzle: a writer bug, not bad input."""


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8", newline="")


def _fill(stage: Path, spec: PuzzleSpec) -> None:
    """Write the spec into `stage` (a copy of the folder there now, or an empty one)."""
    for name, text in prompt_files(spec, stage).items():
        _write(stage / name, text)  # first: the merged puzzle.toml is checked against them
    old_path = stage / "puzzle.toml"
    try:
        old = old_path.read_text(encoding="utf-8") if old_path.is_file() else None
    except (OSError, UnicodeDecodeError):
        old = None  # unreadable: written anew
    for name, text in spec_files(spec, old, stage).items():
        _write(stage / name, text)


def write_puzzle_folder(spec: PuzzleSpec, root: Path) -> Path:
    """Write `root/NN-slug/` all or nothing; returns the folder.

    The folder is built in a hidden staging folder beside it (`.export-*`, which sync skips):
    a copy of the folder there now (so its other files and its puzzle.toml's comments and
    layout stay), the spec written into it, read back with `load_puzzle` and checked by
    source hash, and only then swapped into place. Any failure leaves the folder as it was:
    PuzzleFileError or ValueError (the spec cannot be written as a folder that loads),
    ExportMismatch (a writer bug) or OSError (the folder cannot be written).
    """
    name = f"{spec.number:02d}-{spec.slug}"
    final = root / name
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".export-", dir=root))
    try:
        stage = staging / name
        if final.is_dir():
            shutil.copytree(final, stage, symlinks=True)
        else:
            stage.mkdir()
        _fill(stage, spec)
        if load_puzzle(stage).source_hash() != spec.source_hash():
            raise ExportMismatch(f"export of {spec.slug} did not read back identically")
        if final.is_dir():
            replaced = staging / "replaced"
            final.rename(replaced)
            try:
                stage.rename(final)
            except OSError:
                replaced.rename(final)
                raise
        else:
            stage.rename(final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return final
