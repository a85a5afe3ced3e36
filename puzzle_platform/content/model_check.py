"""Will a worker be able to load a figure's model? Checked when a puzzle is saved (torch-free).

The allow-list (recipes/sources.py) says which models a puzzle MAY name; this says whether
the running workers CAN load them, from what they last reported (jobs/worker_models.py):

- no worker has reported: saved, with a warning (figures wait for a worker to start);
- a live worker holds the model: fine;
- none holds it but one may download from the hub: saved, with a warning (the first
  compute downloads it);
- none holds it and none may download (every worker has HF_HUB_OFFLINE set), or it is a
  local `models:<folder>` (never downloaded): refused, naming the model and the fix. The web
  host's own MODELS_DIR is not consulted: the workers may have a disk of their own.

`manage.py puzzles sync` prints refusals as warnings instead (an operator may sync before
the workers start), so a puzzle folder is never refused for this reason.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

from ..jobs.worker_models import ModelReport, reported_models
from ..recipes.sources import current_policy
from .files import FigureSpec

SHOWN_HELD = 8  # models named in a refusal ("pick one the workers hold: ...")
NO_WORKER = "no worker is running: figures will be computed when one starts"


@dataclass
class ModelCheck:
    """What saving these figures would meet: refusals (one line each) and warnings."""

    refusals: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def figure_model(params: dict) -> str | None:
    """The model reference a figure names (registry recipes and local ones alike)."""
    model = (params or {}).get("model")
    return model if isinstance(model, str) else None


def _held_hint(report: ModelReport) -> str:
    names = report.names[:SHOWN_HELD]
    if not names:
        return "the workers hold no model yet"
    more = f" (and {len(report.names) - SHOWN_HELD} more)" if len(report.names) > SHOWN_HELD else ""
    return "pick one the workers hold: " + ", ".join(names) + more


def check_figures(figures: Iterable[FigureSpec], report: ModelReport | None = None) -> ModelCheck:
    """Each figure's model against the live workers' reports (see the module's docstring)."""
    report = report if report is not None else reported_models()
    policy = current_policy()
    out = ModelCheck()
    models = {}
    for fig in figures:
        if (ref := figure_model(fig.params)) is not None:
            models.setdefault(ref, fig.key)
    if not models:
        return out
    if report.workers == 0:
        out.warnings.append(NO_WORKER)
        return out
    for ref, key in models.items():
        local = policy.is_local(ref)
        shown = policy.shown_name(ref)
        if report.holds(shown) or report.holds(ref):
            continue
        if local:
            out.refusals.append(
                f"figure {key!r}: no worker holds {shown} (a local model is never downloaded): "
                f"put the folder in MODELS_DIR on the workers, or {_held_hint(report)}")
        elif report.can_download:
            out.warnings.append(f"{ref} will be downloaded by the worker on first compute")
        else:
            out.refusals.append(
                f"figure {key!r}: no worker holds {ref} and every worker is offline "
                f"(HF_HUB_OFFLINE): pre-download it on a worker with `manage.py models fetch "
                f"{ref}`, or {_held_hint(report)}")
    return out


def refuse_unloadable(figures: Iterable[FigureSpec]) -> None:
    """ValueError(the first refusal) when no worker could load a figure's model (web saves)."""
    if refusals := check_figures(figures).refusals:
        raise ValueError(refusals[0])


def model_warnings(figures: Iterable[FigureSpec]) -> list[str]:
    """What to tell the mentor after a save (figures: specs or saved Figure rows)."""
    return check_figures(figures).warnings
