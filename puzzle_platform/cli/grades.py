"""`manage.py grades verify [--repair]` and `grades reveal`: the scoring state against the log."""
from __future__ import annotations

import click
from flask.cli import with_appcontext

from ..extensions import db


@click.group()
def grades() -> None:
    """Check or rebuild the scoring state from the attempt log."""


@grades.command("verify")
@click.option("--repair", is_flag=True, help="Write the rebuilt state where it differs.")
@click.option("--limit", default=50, show_default=True, help="Differences to print at most.")
@with_appcontext
def verify(repair: bool, limit: int) -> None:
    """Rebuild every attempt's grade, Score row and total from the attempt log, the current
    truths and the overrides, and report where the stored state differs (exit 1 if it does,
    unless --repair fixed it)."""
    from ..grading.refresh import rebuild
    from ..grading.reveal import score_due

    score_due()
    report = rebuild(dry_run=not repair, reason="repaired by grades verify")
    for line in report.lines[:limit]:
        click.echo(line)
    if len(report.lines) > limit:
        click.echo(f"... and {len(report.lines) - limit} more")
    summary = f"{report.attempts} attempt(s), {report.scores} score(s), {report.totals} total(s)"
    if not report.changed:
        click.echo("the scoring state equals its rebuild from the attempt log")
        return
    if repair:
        db.session.commit()
        click.echo(f"repaired: {summary}")
        return
    db.session.rollback()
    raise click.ClickException(f"the scoring state differs from its rebuild: {summary}; "
                               "run `manage.py grades verify --repair` to fix it")


@grades.command("reveal")
@with_appcontext
def reveal() -> None:
    """Score the forecasts of every puzzle whose reveal has passed (workers do this on their
    own every JOB_RECOVERY_SECONDS, and the first read of a board does it too)."""
    from ..grading.reveal import score_due

    scored = score_due()
    click.echo(f"scored {len(scored)} puzzle(s)" + (f": ids {', '.join(map(str, scored))}" if scored else ""))
