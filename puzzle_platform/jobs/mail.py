"""Sending queued notifications by SMTP, from the worker; the notifications row is the truth.

A message only wakes a worker: whoever sends claims the row first with a conditional UPDATE,
so two workers (or a message sent twice) never send the same email. While a row is queued,
its `not_before` is the time before which nobody may try it: the claim's expiry while a worker is
sending (a worker that died mid-send leaves a claim that runs out), or the backoff after an
SMTP error. Success sets status 'sent' and `sent_at`; after MAX_ATTEMPTS errors the row
is 'failed' with the last error. SMTP_HOST empty: nothing is sent, rows stay queued, and a
later configuration sends them (the periodic sweep, resend_due, finds them).
"""
from __future__ import annotations

import logging
import smtplib
import ssl
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Iterable

import sqlalchemy as sa
from flask import current_app

from ..extensions import db
from ..models import Notification, User
from ..timeutil import utcnow
from .celery_app import TASK_SEND_NOTIFICATION, get_celery

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
CLAIM_SECONDS = 300        # a sender's claim; past it, a crashed sender's row is tried again
SMTP_TIMEOUT = 30          # seconds per SMTP connection step
RESEND_GRACE = timedelta(minutes=5)   # a due row nobody took this long after: its message was lost
TOO_OLD = timedelta(days=7)           # queued longer than this (sending was off): not worth sending
OPT_IN = {"live": "notify_live", "revealed": "notify_reveal", "feedback": "notify_feedback"}


def sending_enabled() -> bool:
    return bool(current_app.config.get("SMTP_HOST"))


def backoff(attempt: int) -> int:
    """Seconds before the next try after the `attempt`-th failure: 30 s, 1, 2, 4 min, ..."""
    return min(3600, 30 * 2 ** (attempt - 1))


def send_notifications(ids: Iterable[int], countdown: float | None = None) -> None:
    """Hand the rows (committed) to the worker; nothing when sending is off. A message the
    broker refuses is re-sent by resend_due()."""
    if not sending_enabled():
        return
    celery = get_celery(current_app._get_current_object())
    for nid in ids:
        try:
            celery.send_task(TASK_SEND_NOTIFICATION, args=[nid], countdown=countdown, retry=False)
        except Exception:  # noqa: BLE001 - any broker error: the row is the truth
            log.warning("could not send notification %s to the broker; it will be re-sent", nid, exc_info=True)
            return


def _update(nid: int, *where, **values) -> bool:
    table = Notification.__table__
    stmt = sa.update(table).where(table.c.id == nid, table.c.status == "queued", *where).values(**values)
    won = db.session.execute(stmt.returning(table.c.id)).scalar() is not None
    db.session.commit()
    return won


def claim(nid: int, now: datetime) -> bool:
    """Take the row for one attempt, if it is queued, due and has attempts left."""
    table = Notification.__table__
    return _update(nid, table.c.attempts < MAX_ATTEMPTS,
                   sa.or_(table.c.not_before.is_(None), table.c.not_before <= now),
                   attempts=table.c.attempts + 1, not_before=now + timedelta(seconds=CLAIM_SECONDS))


def _message(row: Notification, to: str) -> EmailMessage:
    cfg = current_app.config
    msg = EmailMessage()
    msg["From"] = cfg["MAIL_FROM"]
    msg["To"] = to
    msg["Subject"] = row.subject
    msg["Date"] = formatdate(usegmt=True)
    msg["Message-ID"] = make_msgid(domain=cfg["MAIL_FROM"].rpartition("@")[2] or None)
    msg.set_content(row.body)
    return msg


def smtp_send(msg: EmailMessage) -> None:
    """One message over a fresh connection: implicit TLS on port 465, else STARTTLS when
    SMTP_STARTTLS, then a login when SMTP_USER is set."""
    cfg = current_app.config
    host, port = cfg["SMTP_HOST"], int(cfg["SMTP_PORT"])
    context = ssl.create_default_context()
    smtp = (smtplib.SMTP_SSL(host, port, timeout=SMTP_TIMEOUT, context=context) if port == 465
            else smtplib.SMTP(host, port, timeout=SMTP_TIMEOUT))
    with smtp:
        if port != 465 and cfg.get("SMTP_STARTTLS"):
            smtp.starttls(context=context)
        if cfg.get("SMTP_USER"):
            smtp.login(cfg["SMTP_USER"], cfg.get("SMTP_PASSWORD", ""))
        smtp.send_message(msg)


def deliver(nid: int, now: datetime | None = None) -> tuple[str, int | None]:
    """Try to send notification `nid` once. Returns (what happened, seconds until a retry):
    sent, retrying, failed, skipped (not ours to send: sent, failed, claimed, or waiting for
    its backoff), cancelled (the user opted out meanwhile), off (SMTP_HOST is empty)."""
    if not sending_enabled():
        return "off", None
    now = now or utcnow()
    if not claim(nid, now):
        return "skipped", None
    row = db.session.get(Notification, nid, populate_existing=True)
    user = db.session.get(User, row.user_id)
    if user is None or not getattr(user, OPT_IN.get(row.kind, ""), False):
        _update(nid, status="failed", not_before=None, error="not sent: the user turned this notification off")
        return "cancelled", None
    try:
        smtp_send(_message(row, user.email))
    except Exception as exc:  # noqa: BLE001 - SMTP, network and address errors alike are recorded
        message = f"{type(exc).__name__}: {exc}"[:1000]
        if row.attempts >= MAX_ATTEMPTS:
            log.warning("notification %s failed after %s attempts: %s", nid, row.attempts, message)
            _update(nid, status="failed", not_before=None, error=f"{message} (after {row.attempts} attempts)")
            return "failed", None
        delay = backoff(row.attempts)
        log.info("notification %s attempt %s failed (%s); retrying in %s s", nid, row.attempts, message, delay)
        _update(nid, not_before=now + timedelta(seconds=delay), error=message)
        return "retrying", delay
    _update(nid, status="sent", sent_at=utcnow(), not_before=None, error="")
    return "sent", None


def deliver_and_reschedule(nid: int) -> str:
    """The task's body: one attempt, and after an error a new message with the backoff as
    its countdown (the row's own backoff keeps an early copy from sending)."""
    outcome, delay = deliver(nid)
    if outcome == "retrying":
        send_notifications([nid], countdown=delay)
    return outcome


def resend_due(now: datetime | None = None, limit: int = 200) -> list[int]:
    """The periodic sweep: rows queued and due for a while with nobody sending them (their
    message was lost, or sending was just turned on) get a new message; rows queued longer
    than TOO_OLD are failed instead (news that old is not worth an email). Returns the ids sent."""
    if not sending_enabled():
        return []
    now = now or utcnow()
    table = Notification.__table__
    cutoff = now - RESEND_GRACE
    queued = table.c.status == "queued"
    db.session.execute(sa.update(table).where(queued, table.c.created_at < now - TOO_OLD)
                       .values(status="failed", not_before=None, error="not sent: queued too long ago"))
    db.session.execute(sa.update(table).where(queued, table.c.attempts >= MAX_ATTEMPTS, table.c.not_before <= cutoff)
                       .values(status="failed", not_before=None, error="the sender stopped during the last attempt"))
    db.session.commit()
    ids = list(db.session.scalars(sa.select(table.c.id).where(
        table.c.status == "queued",
        sa.or_(sa.and_(table.c.not_before.is_(None), table.c.created_at <= cutoff), table.c.not_before <= cutoff))
        .order_by(table.c.id).limit(limit)))
    send_notifications(ids)
    return ids
