"""Which models the workers hold or can load, as they report them (torch-free).

A worker lists what it has without loading anything: the hub models in its Hugging Face
cache (their repo ids and TransformerLens's aliases for them) and the local folders under
MODELS_DIR that hold a config.json (`models:<folder>`). It stores that, with whether it may
download from the hub (HF_HUB_OFFLINE unset), in a Setting row per worker. The web process
reads the rows back to offer those models in the authoring form and to check a figure's
model when a puzzle is saved.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

from ..extensions import db
from ..models import Setting
from ..recipes.sources import LOCAL_PREFIX, current_policy
from ..timeutil import iso, parse_utc, utcnow

REPORT_PREFIX = "models:"       # Setting rows "models:<host:pid>" (hashed when long)
REPORT_MAX_AGE = timedelta(hours=1)  # older reports are ignored (the worker is gone)
FORGET_REPORTS_AFTER = timedelta(days=1)  # and deleted after this, like the worker:* rows
MAX_REPORTED = 500              # models per report, so a huge cache cannot bloat a row
# Set by `manage.py worker` to its own id, so that its pool children (which run the jobs,
# each with a pid of its own) report under the worker's name, not a new row per child.
REPORTER_ENV = "PUZZLES_MODEL_REPORTER"


@dataclass
class ModelReport:
    """What the live workers said, merged."""

    workers: int = 0
    can_download: bool = False   # some live worker may fetch hub models
    names: list[str] = field(default_factory=list)  # references a figure's `model` may use

    def holds(self, ref: str) -> bool:
        return ref in self.names


def hf_cache_dir() -> Path:
    """The Hugging Face hub cache folder, by the library's own environment rules."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "huggingface")
    return Path(home).expanduser() / "hub"


def _aliases() -> dict[str, list[str]]:
    import json

    from ..recipes.sources import NAMES_FILE
    return json.loads(NAMES_FILE.read_text(encoding="utf-8"))["aliases"]


def held_models() -> list[str]:
    """The model references this machine can load without the network, sorted: cached hub
    repos with a snapshot (plus their TransformerLens aliases) and MODELS_DIR folders."""
    names: set[str] = set()
    cache = hf_cache_dir()
    if cache.is_dir():
        aliases = _aliases()
        for entry in cache.iterdir():
            if not entry.name.startswith("models--") or not (entry / "snapshots").is_dir():
                continue
            if not any((entry / "snapshots").iterdir()):
                continue
            repo = entry.name[len("models--"):].replace("--", "/")
            names.add(repo)
            names.update(aliases.get(repo, ()))
    policy = current_policy()
    if policy.models_dir is not None and policy.models_dir.is_dir():
        for folder in policy.models_dir.iterdir():  # <folder> or <owner>/<name>, as hub ids are
            if (folder / "config.json").is_file():
                names.add(f"{LOCAL_PREFIX}{folder.name}")
            elif folder.is_dir():
                names.update(f"{LOCAL_PREFIX}{folder.name}/{sub.name}" for sub in folder.iterdir()
                             if (sub / "config.json").is_file())
    return sorted(names)[:MAX_REPORTED]


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def report_key(ident: str) -> str:
    import hashlib
    key = f"{REPORT_PREFIX}{ident}"
    return key if len(key) <= 64 else f"{REPORT_PREFIX}{hashlib.sha256(ident.encode()).hexdigest()[:40]}"


def report_held_models(ident: str) -> None:
    """Store this worker's report (the caller commits)."""
    Setting.put(report_key(ident), {"worker": ident, "at": iso(utcnow()), "offline": _offline(),
                                    "models": held_models()})


def report_after_job() -> None:
    """Inside `manage.py worker` (REPORTER_ENV set): report again, since the job just run may
    have downloaded a model (the caller commits). Elsewhere (an inline compute) nothing: that
    process is no worker and must not look like one."""
    ident = os.environ.get(REPORTER_ENV)
    if ident:
        report_held_models(ident)


def forget_stale_reports() -> None:
    """Delete the reports of workers silent for FORGET_REPORTS_AFTER (the caller commits)."""
    oldest = utcnow() - FORGET_REPORTS_AFTER
    stale = []
    for row in db.session.scalars(sa.select(Setting).where(Setting.key.startswith(REPORT_PREFIX))):
        value = row.value if isinstance(row.value, dict) else {}
        try:
            gone = parse_utc(str(value.get("at"))) < oldest
        except ValueError:
            gone = True
        if gone:
            stale.append(row.key)
    if stale:  # one statement: two workers forgetting the same row do not trip over each other
        db.session.execute(sa.delete(Setting).where(Setting.key.in_(stale))
                           .execution_options(synchronize_session="fetch"))


def forget_report(ident: str) -> None:
    row = db.session.get(Setting, report_key(ident))
    if row is not None:
        db.session.delete(row)


def reported_models() -> ModelReport:
    """The merged reports of workers heard from within REPORT_MAX_AGE."""
    report = ModelReport()
    names: set[str] = set()
    oldest = utcnow() - REPORT_MAX_AGE
    for row in db.session.scalars(sa.select(Setting).where(Setting.key.startswith(REPORT_PREFIX))):
        value = row.value if isinstance(row.value, dict) else {}
        try:
            fresh = parse_utc(str(value.get("at"))) >= oldest
        except ValueError:
            fresh = False
        if not fresh:
            continue
        report.workers += 1
        report.can_download = report.can_download or not value.get("offline", True)
        names.update(n for n in value.get("models") or () if isinstance(n, str))
    report.names = sorted(names)
    return report
