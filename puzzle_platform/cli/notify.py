"""`manage.py notify check`: queue the emails of puzzles just released or revealed now.

The worker does the same every JOB_RECOVERY_SECONDS; this is for an operator (or a cron job
where no worker runs the periodic check). Repeats are harmless: one email per person and event.
"""
from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext


@click.group("notify")
def notify() -> None:
    """Email notifications (see the README's Notifications section)."""


@notify.command("check")
@with_appcontext
def check() -> None:
    """Queue "live" and "revealed" emails for puzzles released or revealed within the last day,
    and re-send queued emails whose message was lost."""
    from .worker import check_notifications

    done = check_notifications()
    click.echo(f"queued {len(done['live'])} live and {len(done['revealed'])} revealed email(s); "
               f"re-sent {len(done['resent'])} waiting email(s)")
    if not current_app.config.get("SMTP_HOST"):
        click.echo("SMTP_HOST is not set: emails stay queued until it is")
