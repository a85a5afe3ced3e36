"""Email notifications against a real SMTP server (aiosmtpd on a free local port): opt-in on
the profile, "live" and "revealed" sent once however often (and from how many threads) the
check runs, feedback for an override and for an explanation comment, nothing of the truth
before the reveal, retries then 'failed' when SMTP is down, and nothing sent (nor broken)
without SMTP_HOST.

The broker is a list here: what the web process or a task would send to the worker is
recorded, and `work()` runs the recorded messages through the worker's registered task, as a
worker would (a message with a countdown waits: the retry tests pass times explicitly).
"""
from __future__ import annotations

import re
import socket
import threading
from datetime import datetime, timedelta, timezone
from email import message_from_bytes, policy

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller

from puzzle_platform.community.notifications import queue_due
from puzzle_platform.extensions import db
from puzzle_platform.grading.reveal import score_due
from puzzle_platform.jobs import mail
from puzzle_platform.jobs.celery_app import TASK_SEND_NOTIFICATION, get_celery
from puzzle_platform.jobs.tasks import make_worker_celery
from puzzle_platform.models import Notification, Puzzle, Submission, User
from tests.explanation_fixtures import add_explanation_question, add_version
from tests.helpers import choice_question, csrf_token, write_puzzle
from tests.services import pg_url  # noqa: F401  (fixture)

SITE = "https://puzzles.example.org"
SLUG = "test-puzzle"
PASSWORD = "correct horse battery"
SECRET_REASON = "REASON-SECRET-beta-is-right"
SECRET_COMMENT = "COMMENT-SECRET-mean-direction"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Inbox:
    """aiosmtpd's handler: every message it accepts, parsed."""

    def __init__(self):
        self.messages: list = []

    async def handle_DATA(self, server, session, envelope):
        msg = message_from_bytes(envelope.content, policy=policy.default)
        self.messages.append({"to": envelope.rcpt_tos, "subject": str(msg["Subject"]),
                              "body": msg.get_content()})
        return "250 OK"

    def to(self, address: str) -> list[dict]:
        return [m for m in self.messages if address in m["to"]]


@pytest.fixture
def inbox():
    handler = Inbox()
    controller = Controller(handler, hostname="127.0.0.1", port=_free_port())
    controller.start()
    handler.port = controller.port
    yield handler
    controller.stop()


@pytest.fixture
def broker(app, monkeypatch):
    """The broker as a list of (task name, args, countdown) the worker has not run yet."""
    sent: list[tuple[str, list, float | None]] = []
    celery = make_worker_celery(app)
    monkeypatch.setattr(celery, "send_task", lambda name, args=None, countdown=None, **_: sent.append(
        (name, list(args or []), countdown)))
    assert get_celery(app) is celery
    return sent


def work(app, broker) -> list[str]:
    """Run the due messages (no countdown) through the registered task, as a worker would."""
    celery, outcomes = get_celery(app), []
    while due := [m for m in broker if m[2] is None]:
        for message in due:
            broker.remove(message)
            outcomes.append(celery.tasks[message[0]](*message[1]))
    return outcomes


@pytest.fixture
def mail_on(app, inbox):
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=inbox.port, SMTP_STARTTLS=False, SITE_URL=SITE,
                      MAIL_FROM="puzzles@example.org")
    return inbox


def login(app, username: str):
    client = app.test_client()
    resp = client.post("/login", data={"csrf_token": csrf_token(client), "username": username,
                                       "password": PASSWORD})
    assert resp.status_code == 302, resp.get_data(as_text=True)
    return client


def opt_in(app, username: str, **choices: str):
    client = login(app, username)
    resp = client.post("/profile/notifications", data={"csrf_token": csrf_token(client, "/profile"), **choices})
    assert resp.status_code == 303
    return client


def set_schedule(app, **times: datetime) -> None:
    with app.app_context():
        puzzle = db.session.scalar(sa.select(Puzzle).where(Puzzle.slug == SLUG))
        for name, value in times.items():
            setattr(puzzle, name, value)
        db.session.commit()


def now() -> datetime:
    return datetime.now(timezone.utc)


def rows(app) -> list[tuple]:
    with app.app_context():
        return [tuple(r) for r in db.session.execute(sa.select(
            User.username, Notification.kind, Notification.status, Notification.attempts, Notification.error)
            .join(User, User.id == Notification.user_id).order_by(Notification.id))]


@pytest.fixture
def scholars(app, auth):
    for name in ("ann", "bob", "cy"):
        auth.create_user(name)
    auth.create_user("mona", role="mentor")


@pytest.fixture
def live_puzzle(app, puzzles_dir, sync, scholars):
    """Live since an hour ago; "pick" is a challenge (graded at once; the truth is beta)."""
    write_puzzle(puzzles_dir, figures="", questions=choice_question(mode="challenge", points=5, max_attempts=3))
    sync()
    set_schedule(app, release_at=now() - timedelta(hours=1))


def test_profile_opt_in_is_off_by_default_and_saved(app, scholars):
    client = login(app, "ann")
    page = client.get("/profile").get_data(as_text=True)
    boxes = re.findall(r'<input type="checkbox" name="(notify_\w+)" value="1"( checked)?>', page)
    assert boxes == [("notify_live", ""), ("notify_reveal", ""), ("notify_feedback", "")]
    assert "ann@example.org" in page and "no mail server configured" in page
    token = csrf_token(client, "/profile")
    assert client.post("/profile/notifications", data={"csrf_token": token, "notify_live": "yes"}).status_code == 400
    resp = client.post("/profile/notifications", data={"csrf_token": token, "notify_live": "1",
                                                       "notify_feedback": "1"}, follow_redirects=True)
    assert "You will get an email when a puzzle goes live; when a mentor" in resp.get_data(as_text=True)
    with app.app_context():
        ann = db.session.scalar(sa.select(User).where(User.username == "ann"))
        assert (ann.notify_live, ann.notify_reveal, ann.notify_feedback) == (True, False, True)
    page = client.get("/profile").get_data(as_text=True)
    assert re.findall(r'name="(notify_\w+)" value="1"( checked)?>', page) == [
        ("notify_live", " checked"), ("notify_reveal", ""), ("notify_feedback", " checked")]
    client.post("/profile/notifications", data={"csrf_token": token})  # all unticked
    with app.app_context():
        ann = db.session.scalar(sa.select(User).where(User.username == "ann"))
        assert (ann.notify_live, ann.notify_reveal, ann.notify_feedback) == (False, False, False)
    assert app.test_client().post("/profile/notifications", data={"notify_live": "1"}).status_code in (400, 401)


def test_live_email_goes_to_opted_in_users_only_once(app, runner, live_puzzle, mail_on, broker):
    opt_in(app, "ann", notify_live="1")
    opt_in(app, "cy", notify_reveal="1")  # not live: gets nothing now
    for _ in range(2):
        result = runner.invoke(args=["notify", "check"])
        assert result.exit_code == 0, result.output
    assert "queued 0 live" in result.output  # the second check found ann's email already queued
    assert work(app, broker) == ["sent"]
    assert [m["to"] for m in mail_on.messages] == [["ann@example.org"]]
    email = mail_on.messages[0]
    assert email["subject"] == "Puzzle 1 is live: Test puzzle"
    assert f"{SITE}/puzzles/{SLUG}" in email["body"] and "open for answers until" in email["body"]
    assert "beta" not in email["body"] and "SECRET-ANSWER-TEXT" not in email["body"]
    assert rows(app) == [("ann", "live", "sent", 1, "")]


def test_two_checks_at_once_queue_and_send_one_email_each(app, live_puzzle, mail_on, broker):
    """The periodic check of two workers at the same moment, and two workers given the same
    message: one email per person (the unique key, then the claim)."""
    for name in ("ann", "bob"):
        opt_in(app, name, notify_live="1", notify_reveal="1")
    set_schedule(app, release_at=now() - timedelta(hours=3), deadline_at=now() - timedelta(hours=2),
                 reveal_at=now() - timedelta(hours=1))  # released and revealed: one of each

    def check():
        with app.app_context():
            queue_due()

    threads = [threading.Thread(target=check) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r[:2] for r in rows(app)) == [("ann", "revealed"), ("bob", "revealed")]  # closed: no "live"
    assert len(broker) == 2
    broker.extend(list(broker))  # every message delivered twice
    outcomes = work(app, broker)
    assert sorted(outcomes) == ["sent", "sent", "skipped", "skipped"]
    assert sorted(m["to"][0] for m in mail_on.messages) == ["ann@example.org", "bob@example.org"]
    revealed = mail_on.messages[0]
    assert revealed["subject"] == "Puzzle 1 is revealed: Test puzzle" and "answers" in revealed["body"]
    with app.app_context():
        assert queue_due() == {"live": [], "revealed": []}


def test_old_puzzles_are_not_announced(app, live_puzzle, mail_on, broker):
    opt_in(app, "ann", notify_live="1", notify_reveal="1")
    set_schedule(app, release_at=now() - timedelta(days=30), deadline_at=now() - timedelta(days=29),
                 reveal_at=now() - timedelta(days=2))
    with app.app_context():
        assert queue_due() == {"live": [], "revealed": []}
    assert rows(app) == [] and broker == []


def _answer(app, username: str, choice: str) -> int:
    client = login(app, username)
    resp = client.post(f"/puzzles/{SLUG}/questions/pick", data={"csrf_token": csrf_token(client, f"/puzzles/{SLUG}"),
                                                                 "choice": choice})
    assert resp.status_code in (200, 303), resp.get_data(as_text=True)
    with app.app_context():
        return db.session.scalar(sa.select(Submission.id).join(User, User.id == Submission.user_id)
                                 .where(User.username == username).order_by(Submission.id.desc()))


def _override(app, sub_id: int, points: str, reason: str):
    mona = login(app, "mona")
    page = f"/mentor/puzzles/{SLUG}/questions/pick/submissions"
    resp = mona.post(f"/mentor/submissions/{sub_id}/override",
                     data={"csrf_token": csrf_token(mona, page), "points": points, "reason": reason})
    assert resp.status_code == 303, resp.get_data(as_text=True)


def test_override_feedback_hides_points_until_the_reveal(app, live_puzzle, mail_on, broker):
    opt_in(app, "ann", notify_feedback="1")
    ann_sub, bob_sub = _answer(app, "ann", "alpha"), _answer(app, "bob", "alpha")
    _override(app, ann_sub, "5", SECRET_REASON)
    _override(app, bob_sub, "5", SECRET_REASON)  # bob did not opt in
    assert work(app, broker) == ["sent"]
    (email,) = mail_on.messages
    assert email["to"] == ["ann@example.org"] and email["subject"].startswith("Feedback on your answer")
    assert "changed the points of your answer" in email["body"] and f"{SITE}/puzzles/{SLUG}" in email["body"]
    for secret in (SECRET_REASON, "Points", "5 of 5", "beta"):
        assert secret not in email["body"], secret
    # After the reveal, a second override tells the points and the reason.
    set_schedule(app, release_at=now() - timedelta(days=3), deadline_at=now() - timedelta(days=2),
                 reveal_at=now() - timedelta(days=1))
    _override(app, ann_sub, "4", "Half right: " + SECRET_REASON)
    assert work(app, broker) == ["sent"]
    after = mail_on.messages[-1]["body"]
    assert "Points: 4 of 5" in after and SECRET_REASON in after


def test_explanation_comment_feedback(app, puzzles_dir, sync, scholars, mail_on, broker):
    write_puzzle(puzzles_dir, state="closed", figures="", questions=choice_question())
    sync()
    qid = add_explanation_question(app, SLUG)
    ann = add_version(app, "ann", qid, "The mean direction.")
    bob = add_version(app, "bob", qid, "Something else.")
    opt_in(app, "ann", notify_feedback="1")
    opt_in(app, "bob", notify_feedback="1")
    mona = login(app, "mona")
    queue = f"/mentor/puzzles/{SLUG}/questions/explain/explanations"

    def grade(sub_id: int, comment: str):
        resp = mona.post(f"/mentor/explanations/{sub_id}", data={
            "csrf_token": csrf_token(mona, queue), "items": ["mean_vector"], "comment": comment})
        assert resp.status_code == 303, resp.get_data(as_text=True)

    grade(ann, SECRET_COMMENT)
    grade(bob, "")  # no comment: no email
    assert work(app, broker) == ["sent"]
    (email,) = mail_on.messages
    assert email["to"] == ["ann@example.org"] and "commented on your answer" in email["body"]
    assert SECRET_COMMENT not in email["body"] and "Points" not in email["body"]
    assert "from the reveal" in email["body"]
    set_schedule(app, reveal_at=now() - timedelta(hours=1))  # the deadline was a day ago
    with app.app_context():
        assert score_due()  # the worker's tick scores the forecasts at the reveal
    grade(ann, SECRET_COMMENT + " (revised)")
    assert work(app, broker) == ["sent"]
    after = mail_on.messages[-1]["body"]
    assert SECRET_COMMENT in after and "Points: 3 of 10" in after


def test_smtp_down_retries_with_backoff_then_fails(app, live_puzzle, mail_on, broker):
    app.config["SMTP_PORT"] = _free_port()  # nobody listens there
    opt_in(app, "ann", notify_live="1")
    with app.app_context():
        (nid,) = queue_due()["live"]
        t = now()
        assert mail.deliver(nid, now=t) == ("retrying", 30)
        assert mail.deliver(nid, now=t + timedelta(seconds=10)) == ("skipped", None)  # backing off
        for attempt in range(2, mail.MAX_ATTEMPTS):
            t += timedelta(seconds=mail.backoff(attempt - 1))
            assert mail.deliver(nid, now=t) == ("retrying", mail.backoff(attempt))
        t += timedelta(hours=2)
        assert mail.deliver(nid, now=t) == ("failed", None)
        assert mail.deliver(nid, now=t + timedelta(hours=2)) == ("skipped", None)
    (row,) = rows(app)
    assert row[:4] == ("ann", "live", "failed", mail.MAX_ATTEMPTS)
    assert "ConnectionRefusedError" in row[4] and f"after {mail.MAX_ATTEMPTS} attempts" in row[4]
    assert mail_on.messages == []
    # The task itself re-sends its message with the backoff as the countdown.
    broker.clear()
    with app.app_context():
        queue_due()  # nothing new for ann; a fresh row for a new opt-in
    opt_in(app, "bob", notify_live="1")
    with app.app_context():
        queue_due()
    assert work(app, broker) == ["retrying"] and broker == [(TASK_SEND_NOTIFICATION, broker[0][1], 30)]


def test_a_user_who_opts_out_before_sending_gets_nothing(app, live_puzzle, mail_on, broker):
    opt_in(app, "ann", notify_live="1")
    with app.app_context():
        queue_due()
    opt_in(app, "ann")  # every box unticked before the worker got to it
    assert work(app, broker) == ["cancelled"]
    assert mail_on.messages == [] and rows(app)[0][2] == "failed"


def test_without_smtp_host_nothing_is_sent_and_nothing_breaks(app, live_puzzle, inbox, broker):
    assert app.config["SMTP_HOST"] == ""
    opt_in(app, "ann", notify_live="1", notify_feedback="1")
    with app.app_context():
        assert len(queue_due()["live"]) == 1
    _override(app, _answer(app, "ann", "alpha"), "5", SECRET_REASON)  # the override works
    assert login(app, "ann").get(f"/puzzles/{SLUG}").status_code == 200
    assert broker == [] and inbox.messages == []
    assert sorted(r[1:4] for r in rows(app)) == [("feedback", "queued", 0), ("live", "queued", 0)]
    with app.app_context():
        assert mail.deliver(1) == ("off", None) and mail.resend_due() == []
    # A later configuration sends what waited (the worker's periodic sweep finds it).
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=inbox.port, SMTP_STARTTLS=False)
    with app.app_context():
        assert len(mail.resend_due(now=now() + timedelta(minutes=10))) == 2
    assert work(app, broker) == ["sent", "sent"]
    assert sorted(m["subject"].split(":")[0] for m in inbox.messages) == [
        "Feedback on your answer to puzzle 1", "Puzzle 1 is live"]
    assert all("https://" not in m["body"] for m in inbox.messages)  # no SITE_URL: no link


@pytest.mark.services
def test_the_same_on_postgres(pg_url, tmp_path, puzzles_dir, inbox):  # noqa: F811
    """INSERT ... SELECT ... ON CONFLICT and the claim on PostgreSQL: two checks and two
    senders at once still make one email per person."""
    from flask_migrate import upgrade

    from puzzle_platform import create_app
    from tests.conftest import AuthActions

    app = create_app({"TESTING": True, "SECRET_KEY": "t", "INSTANCE_PATH": str(tmp_path / "instance"),
                      "SQLALCHEMY_DATABASE_URI": pg_url, "PUZZLES_DIR": str(puzzles_dir),
                      "SMTP_HOST": "127.0.0.1", "SMTP_PORT": inbox.port, "SMTP_STARTTLS": False})
    with app.app_context():
        upgrade()
    try:
        auth = AuthActions(app.test_client(), app)
        for name in ("ann", "bob"):
            auth.create_user(name)
        write_puzzle(puzzles_dir, figures="", questions=choice_question(mode="challenge"))
        assert app.test_cli_runner().invoke(args=["puzzles", "sync"]).exit_code == 0
        set_schedule(app, release_at=now() - timedelta(hours=1))
        opt_in(app, "ann", notify_live="1")
        ids: list[int] = []

        def run(target):
            threads = [threading.Thread(target=target) for _ in range(2)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()

        def check():
            with app.app_context():
                ids.extend(queue_due()["live"])

        def send():
            with app.app_context():
                mail.deliver(ids[0])

        run(check)
        assert len(ids) == 1
        run(send)
        assert [m["to"] for m in inbox.messages] == [["ann@example.org"]]
        assert rows(app) == [("ann", "live", "sent", 1, "")]
    finally:
        with app.app_context():
            db.engine.dispose()
