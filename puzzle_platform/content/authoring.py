"""Mentors authoring puzzles on the web: form -> the puzzle-file validator -> the sync.

A web-authored puzzle is validated by `puzzle_files.spec_from_table` and saved by
`puzzle_sync.sync_puzzles`, exactly as a puzzle folder is, so the two can never disagree,
and its export is a folder that `puzzles sync` reads back as "unchanged". Nothing here is
half-applied: a refusal (AuthoringError) leaves the database as it was.
"""
from __future__ import annotations

import re
import tomllib
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..grading.generation import SCHEDULE, SCOREBOARD, bump_generation
from ..grading.locks import lock_puzzles
from ..grading.refresh import refresh_puzzles
from ..grading.truth import params_key
from ..models import Puzzle, User
from .files import (FOLDER_RE, MAX_NUMBER, FigureSpec, PuzzleSpec, QuestionSpec, check_identity,
                    figure_model_problem, PuzzleFileError, spec_from_table)
from ..recipes.local import is_local
from .model_check import refuse_unloadable
from .sync import SyncError, sync_puzzles
from .text_checks import escape_views, toml_error_hint
from ..grading.explanations import RubricSpec, rubric_of
from .writer import dump_toml, spec_to_table, write_puzzle_folder

TIME_FIELDS = ("release_at", "deadline_at", "reveal_at")
MAX_SPEC_CHARS = 100_000


class AuthoringError(ValueError):
    """Bad input or a conflict; the message says what to fix. Nothing was changed."""


@dataclass
class PuzzleForm:
    """The authoring form as typed (strings), so a refused form is shown again unchanged."""

    number: str = ""
    slug: str = ""
    title: str = ""
    summary: str = ""
    statement_md: str = ""
    answer_md: str = ""
    release_at: str = ""
    deadline_at: str = ""
    reveal_at: str = ""
    tz: str = "UTC"
    spec_toml: str = ""

    @classmethod
    def from_request(cls, form: Mapping[str, str]) -> "PuzzleForm":
        # Browsers send textarea lines as CRLF; files are read with universal newlines, so
        # normalise here or a web puzzle would never hash equal to its own export.
        return cls(**{f.name: str(form.get(f.name, f.default) or "").replace("\r\n", "\n").replace("\r", "\n")
                      for f in fields(cls)})

    @classmethod
    def from_puzzle(cls, puzzle: Puzzle, tz: str = "UTC") -> "PuzzleForm":
        zone = zone_named(tz)
        spec = spec_from_puzzle(puzzle)
        table = spec_to_table(spec)
        children = {k: table[k] for k in ("figures", "questions") if k in table}
        return cls(str(puzzle.number), puzzle.slug, puzzle.title, puzzle.summary,
                   puzzle.statement_md, puzzle.answer_md,
                   *(local_input(getattr(puzzle, name), zone) for name in TIME_FIELDS),
                   tz, dump_toml(children))

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


@lru_cache(maxsize=1)
def timezones() -> tuple[str, ...]:
    """Zone names for the form's select: UTC first, then the IANA Area/Location names sorted
    (what browsers report; not the database's own files such as localtime or posixrules)."""
    names = (z for z in available_timezones()
             if "/" in z and not z.startswith(("posix/", "right/", "SystemV/")))
    return ("UTC", *sorted(names))


def zone_named(name: str) -> ZoneInfo:
    if name not in timezones():
        raise AuthoringError(f"unknown time zone {name[:60]!r}; pick one from the list")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise AuthoringError(f"unknown time zone {name[:60]!r}; pick one from the list") from None


def local_input(dt: datetime, zone: ZoneInfo) -> str:
    """A UTC time as the value of an <input type="datetime-local" step="1"> in `zone` (to the
    second, so saving an untouched form never moves a file puzzle's schedule)."""
    return dt.astimezone(zone).strftime("%Y-%m-%dT%H:%M:%S")


def _parse_local(text: str, zone: ZoneInfo, name: str) -> datetime:
    try:
        local = datetime.fromisoformat(text.strip())
    except ValueError:
        raise AuthoringError(f"{name}: enter a date and time, e.g. 2026-12-01T17:00") from None
    if local.tzinfo is not None:
        raise AuthoringError(f"{name}: give the time without an offset; the zone is chosen below it")
    return local.replace(tzinfo=zone).astimezone(timezone.utc)


def in_zone(dt: datetime, zone: ZoneInfo) -> str:
    """A time as a message to the form's author says it: in the zone the form was filled in,
    with UTC beside it (files and the database keep UTC)."""
    utc = dt.astimezone(timezone.utc)
    if zone.key == "UTC":
        return utc.strftime("%Y-%m-%d %H:%M UTC")
    return f"{dt.astimezone(zone):%Y-%m-%d %H:%M} {zone.key} = {utc:%Y-%m-%d %H:%M} UTC"


def _check_schedule(times: dict[str, datetime], zone: ZoneInfo) -> None:
    """release <= deadline <= reveal, refused with the times as the author typed them."""
    for early, late in (("release_at", "deadline_at"), ("deadline_at", "reveal_at")):
        if times[late] < times[early]:
            raise AuthoringError(f"{late} ({in_zone(times[late], zone)}) is before {early} "
                                 f"({in_zone(times[early], zone)}); the schedule must satisfy "
                                 "release_at <= deadline_at <= reveal_at")


def _parse_number(text: str) -> int:
    if not re.fullmatch(r"[0-9]{1,9}", text.strip()):
        raise AuthoringError(f"number must be a whole number from 0 to {MAX_NUMBER}")
    return int(text.strip())


def spec_from_form(form: PuzzleForm, from_fields: bool = False) -> PuzzleSpec:
    """Validate the form with the puzzle-file validator; AuthoringError(reason) if refused.

    `from_fields`: the figures and questions were typed into the structured form, so their
    `spec_toml` was written for them and no `\\t` / `\\n` in it is a mentor's TOML escape."""
    number = _parse_number(form.number)
    zone = zone_named(form.tz)
    times = {name: _parse_local(getattr(form, name), zone, name) for name in TIME_FIELDS}
    _check_schedule(times, zone)
    if len(form.spec_toml) > MAX_SPEC_CHARS:
        raise AuthoringError(f"questions and figures: longer than {MAX_SPEC_CHARS} characters")
    try:
        children = tomllib.loads(form.spec_toml)
    except tomllib.TOMLDecodeError as exc:
        raise AuthoringError(f"questions and figures: not valid TOML: {toml_error_hint(str(exc))}") from None
    # [[recipes]] goes on to the validator, which refuses it with the reason.
    extra = sorted(set(children) - {"figures", "questions", "recipes"})
    if extra:
        raise AuthoringError(f"questions and figures: only [[figures]] and [[questions]] tables "
                             f"belong here (found {', '.join(extra)}); the other fields have their own inputs")
    data = {"title": form.title, "summary": form.summary, **times, **children}
    try:
        return spec_from_table(data, number=number, slug=form.slug.strip(),
                               statement_md=form.statement_md, answer_md=form.answer_md,
                               folder=Path(f"{number:02d}-{form.slug.strip()}"),
                               escaped=None if from_fields else escape_views(form.spec_toml))
    except ValueError as exc:
        raise AuthoringError(str(exc)) from None


def spec_from_puzzle(puzzle: Puzzle) -> PuzzleSpec:
    """The database puzzle as the spec it was saved from (the export's source)."""
    return PuzzleSpec(
        Path(f"{puzzle.number:02d}-{puzzle.slug}"), puzzle.number, puzzle.slug, puzzle.title,
        puzzle.summary, puzzle.statement_md, puzzle.answer_md, puzzle.release_at,
        puzzle.deadline_at, puzzle.reveal_at,
        [FigureSpec(f.key, f.title, f.recipe, dict(f.params)) for f in puzzle.figures],
        [QuestionSpec(q.key, q.prompt_md, q.kind, q.mode, q.grader, dict(q.grader_params), float(q.points),
                      q.max_attempts, q.statistic, q.truth_literal, q.unit, q.choices, q.word_budget,
                      [RubricSpec(r.key, r.description, float(r.points)) for r in rubric_of(q.id)])
         for q in puzzle.questions])


def _check_unique(spec: PuzzleSpec, own_id: int | None) -> None:
    """Slug and number are free (or this puzzle's own): refused with the owner's name."""
    for column, value in ((Puzzle.slug, spec.slug), (Puzzle.number, spec.number)):
        other = db.session.scalar(sa.select(Puzzle).where(column == value))
        if other is not None and other.id != own_id:
            raise AuthoringError(f"{column.key} {value} is already used by puzzle "
                                 f"{other.number} ({other.slug})")


def _check_models(spec: PuzzleSpec) -> None:
    """A spec read back from the database skips the file validator: the model policy may have
    changed since it was saved, so check its figures' models again."""
    for fig in spec.figures:
        if problem := figure_model_problem(fig.recipe, fig.params):
            raise AuthoringError(f"figure {fig.key!r}: {problem}")


def _check_loadable(spec: PuzzleSpec, saved: Puzzle | None = None) -> None:
    """A worker must be able to load the model of each figure to compute (content/
    model_check.py): all of them, or of an edit only the new or changed ones (an unchanged
    figure keeps its artifact). The warnings of a saved puzzle: model_check.model_warnings."""
    keys = {f.key: f.params_key for f in saved.figures} if saved is not None else {}
    todo = [f for f in spec.figures if keys.get(f.key) != params_key(f.recipe, f.params)]
    try:
        refuse_unloadable(todo)
    except ValueError as exc:
        raise AuthoringError(str(exc)) from None


def _check_no_local(spec: PuzzleSpec, action: str) -> None:
    """A puzzle with puzzle-local recipes lives in its folder (its recipe.py is not in the
    database): it cannot be exported or duplicated from the database."""
    local = sorted({f.recipe for f in spec.figures if is_local(f.recipe)})
    if local:
        raise AuthoringError(f"cannot {action} {spec.slug}: its figures use puzzle-local recipes "
                             f"({', '.join(local)}) whose recipe.py lives only in its folder; copy or "
                             "edit the folder itself and run `manage.py puzzles sync`")


def _save(spec: PuzzleSpec, new_attrs: dict | None = None) -> list[str]:
    try:
        return sync_puzzles([spec], new_attrs)
    except SyncError as exc:
        raise AuthoringError(str(exc).split(": ", 1)[-1]) from None
    except IntegrityError:  # lost a race for the slug or number
        raise AuthoringError("the slug or number was taken by another puzzle meanwhile; "
                             "choose another") from None


def _by_slug(slug: str) -> Puzzle:
    return db.session.scalar(sa.select(Puzzle).where(Puzzle.slug == slug))


def create_puzzle(form: PuzzleForm, author: User, from_fields: bool = False) -> Puzzle:
    """A new web puzzle, unpublished until a mentor publishes it (`from_fields`: see
    spec_from_form)."""
    spec = spec_from_form(form, from_fields)
    _check_unique(spec, None)
    _check_loadable(spec)
    _save(spec, {"origin": "web", "created_by": author.id, "published": False})
    return _by_slug(spec.slug)


def update_puzzle(puzzle: Puzzle, form: PuzzleForm, from_fields: bool = False) -> list[str]:
    """Apply an edit by the sync's rules (regrades changed questions; keeps answered ones)."""
    spec = spec_from_form(form, from_fields)
    if spec.slug != puzzle.slug:
        raise AuthoringError("the slug cannot be changed (links and folders use it); "
                             "duplicate the puzzle to get one with a new slug")
    _check_unique(spec, puzzle.id)
    _check_loadable(spec, puzzle)
    return _save(spec)


MAX_SHIFT_DAYS = 3660


def _parse_shift(text: str) -> timedelta:
    if not re.fullmatch(r"-?[0-9]{1,4}", (text or "0").strip()) or abs(int(text or 0)) > MAX_SHIFT_DAYS:
        raise AuthoringError(f"shift must be a whole number of days from -{MAX_SHIFT_DAYS} to {MAX_SHIFT_DAYS}")
    return timedelta(days=int(text or 0))


def duplicate_puzzle(puzzle: Puzzle, number: str, slug: str, author: User, shift_days: str = "0") -> Puzzle:
    """A copy under a new number and slug: statement, answer, schedule (release, deadline and
    reveal moved by `shift_days` days, e.g. 7 for next week's), figures, questions; no
    attempts or computed artifacts. Unpublished."""
    shift = _parse_shift(shift_days)
    spec = spec_from_puzzle(puzzle)
    try:
        spec.release_at, spec.deadline_at, spec.reveal_at = (
            spec.release_at + shift, spec.deadline_at + shift, spec.reveal_at + shift)
    except OverflowError:
        raise AuthoringError("shifting the dates that far leaves the calendar (years 1 to 9999); "
                             "choose a smaller shift") from None
    try:
        spec.number, spec.slug = check_identity(_parse_number(number), slug.strip())
    except ValueError as exc:
        raise AuthoringError(str(exc)) from None
    spec.folder = Path(f"{spec.number:02d}-{spec.slug}")
    _check_no_local(spec, "duplicate")
    _check_models(spec)
    _check_loadable(spec)
    _check_unique(spec, None)
    _save(spec, {"origin": "web", "created_by": author.id, "published": False})
    return _by_slug(spec.slug)


class PuzzleGone(AuthoringError):
    """The puzzle was deleted while we waited for its lock (409)."""


def lock_fresh(puzzle: Puzzle) -> None:
    """Lock the puzzle (grading/locks.py) and reload it; PuzzleGone if it was deleted
    while we waited for the lock."""
    pid = puzzle.id
    lock_puzzles([pid])
    if db.session.get(Puzzle, pid, populate_existing=True) is None:
        db.session.rollback()
        raise PuzzleGone("the puzzle was deleted meanwhile")


def set_published(puzzle: Puzzle, published: bool) -> None:
    """Unpublished puzzles are 'upcoming' to scholars whatever their schedule says, and their
    points leave every leaderboard (they come back with the puzzle)."""
    lock_fresh(puzzle)
    puzzle.published = published
    refresh_puzzles([puzzle.id], "puzzle published" if published else "puzzle unpublished")
    bump_generation(SCOREBOARD, SCHEDULE)  # the boards' puzzles and the reveal schedule changed
    db.session.commit()


def export_puzzle(puzzle: Puzzle, root: Path) -> Path:
    """Write the puzzle to `root/NN-slug/` so that `puzzles sync` reports it unchanged.

    Refused when another folder under root already claims the slug or the number (the next
    sync would fail on the duplicate), or when the puzzle cannot be written as a folder that
    loads back (AuthoringError, 409). All or nothing: the folder is read back and checked
    before it takes its place (writer.write_puzzle_folder); OSError when it cannot be written.
    """
    spec = spec_from_puzzle(puzzle)
    _check_no_local(spec, "export")
    _check_models(spec)  # the folder's next sync would refuse it
    name = f"{spec.number:02d}-{spec.slug}"
    if root.is_dir():
        for other in sorted(root.iterdir()):
            match = FOLDER_RE.match(other.name)
            if other.is_dir() and match and other.name != name and (
                    match.group(2) == spec.slug or int(match.group(1)) == spec.number):
                raise AuthoringError(f"cannot export to {name}/: the folder {other.name} "
                                     "already holds this slug or number; rename or remove it first")
    try:
        folder = write_puzzle_folder(spec, root)  # ExportMismatch (a writer bug) is not caught
    except PuzzleFileError as exc:  # its reason, never the server's path
        raise AuthoringError(f"not exported: the written folder would not load back ({exc.reason}); "
                             "nothing was written") from None
    except ValueError as exc:
        raise AuthoringError(f"not exported: {exc}; nothing was written") from None
    digest = spec.source_hash()  # the folder was read back with this hash
    if puzzle.source_hash != digest:
        puzzle.source_hash = digest  # the database holds exactly what the folder says
        db.session.commit()
    return folder
