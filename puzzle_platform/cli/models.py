"""`manage.py models list|fetch`: what this machine can load offline, and filling the Hugging
Face cache ahead of time so that workers can run with HF_HUB_OFFLINE=1.

`fetch` goes through the worker's own path (worker/models_runtime.py: the site's model policy,
MODEL_MAX_GB from the hub's file list, then the download), so what it accepts is exactly what
a worker would load. That module imports torch: it is imported inside the command only, so
registering the group keeps the web process torch-free.
"""
from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import Iterator

import click
import sqlalchemy as sa
from flask.cli import with_appcontext

from ..jobs.worker_models import _offline, held_models, hf_cache_dir
from ..recipes.sources import current_policy


@contextmanager
def _site_settings() -> Iterator[None]:
    """The policy reads the admins' extra allowed names from the database: one line, not a
    traceback, when it cannot be read."""
    try:
        yield
    except sa.exc.SQLAlchemyError:
        raise click.ClickException("could not read the site's model settings from the database "
                                   "(DATABASE_URL); run `manage.py db upgrade` first") from None


@click.group("models")
def models() -> None:
    """List and pre-download the models workers load."""


@models.command("list")
@with_appcontext
def list_() -> None:
    """Print the models this machine can load without the network."""
    offline = _offline()
    click.echo(f"Hugging Face cache: {hf_cache_dir()}")
    click.echo("HF_HUB_OFFLINE is set: workers load only these models" if offline else
               "HF_HUB_OFFLINE is not set: workers may also download allowed hub models")
    with _site_settings():
        names = held_models()
    for name in names:
        click.echo(f"  {name}")
    if not names:
        click.echo("  (none; `manage.py models fetch NAME` downloads one)")


@models.command("fetch")
@click.argument("names", nargs=-1, required=True)
@click.option("--revision", default=None, help="A commit or branch (default: main).")
@with_appcontext
def fetch(names: tuple[str, ...], revision: str | None) -> None:
    """Download hub models NAMES (hub ids or TransformerLens names) into the cache."""
    with _site_settings():
        policy = current_policy()
    for name in names:  # every name is checked before anything is downloaded
        if problem := policy.problem(name):
            raise click.ClickException(" ".join(problem.split()))
    from ..worker.errors import ModelUnavailable
    from ..worker.models_runtime import fetch_hub_model

    for client in ("httpx", "httpx2"):  # huggingface_hub's HTTP client logs every request at INFO
        logging.getLogger(client).setLevel(logging.WARNING)

    for name in names:
        try:
            snap = fetch_hub_model(name, revision, policy)
        except ModelUnavailable as exc:
            raise click.ClickException(" ".join(str(exc).split())) from None
        what = "downloaded" if snap.downloaded else "cached already"
        click.echo(f"{name}: {what} ({snap.repo_id}, revision {snap.revision}, "
                   f"{snap.nbytes / 1e6:,.1f} MB)")
