"""Mentor pages show times the way scholar pages do: every time is a <time datetime="...Z"
class="localtime"> element, which static/app.js rewrites into the viewer's zone (keeping the
UTC text as its hover). The crawl of every GET route as an admin (mentor area, grading,
explanations, admin, cohorts) finds no time written as bare "UTC" text anywhere else; the
only exceptions are hovers (title attributes) and the authoring form's zone picker, whose
value is a zone name. Days filtering the attempts are days in the viewer's zone."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa

from tests.helpers import csrf_token
from tests.security.conftest import LIVE, client_as, crawl_as

MENTOR_PAGES = ("/mentor", "/admin", "/cohorts")
TIME = re.compile(r'<time datetime="(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z)" class="localtime"(?: title="[^"]*")?>([^<]*)</time>')
ISO = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d")


def _without_allowed(html: str) -> str:
    """The page less its <time> elements, hovers, <select>s and the zone label of the form."""
    html = TIME.sub("", html)
    html = re.sub(r'\btitle="[^"]*"', "", html)
    html = re.sub(r"<select\b.*?</select>", "", html, flags=re.S)
    return re.sub(r'<strong id="tz-label">[^<]*</strong>', "", html)


def _add_job(app) -> None:
    from puzzle_platform.extensions import db
    from puzzle_platform.models import Job, Puzzle

    with app.app_context():
        puzzle = db.session.scalar(sa.select(Puzzle).where(Puzzle.slug == LIVE))
        db.session.add(Job(kind="figure", puzzle_id=puzzle.id, figure_key="fig", status="queued"))
        db.session.commit()


def test_every_time_on_mentor_pages_is_a_local_time_element(app, world):
    _add_job(app)
    pages = crawl_as(app, world, "admin")
    mentor = {url: p for url, p in pages.items()
              if url.startswith(MENTOR_PAGES) and p.status == 200 and "html" in p.content_type}
    assert len(mentor) >= 10, sorted(mentor)
    times = 0
    for url, page in mentor.items():
        for stamp, text in TIME.findall(page.body):
            times += 1
            shown = datetime.strptime(text, "%Y-%m-%d %H:%M UTC").replace(tzinfo=timezone.utc)
            assert datetime.fromisoformat(stamp.replace("Z", "+00:00")) - shown < timedelta(minutes=1), (url, text)
        rest = _without_allowed(page.body)
        assert "UTC" not in rest, (url, rest[max(0, rest.find("UTC") - 200):rest.find("UTC") + 50])
        assert not ISO.search(re.sub(r'<input\b[^>]*>', "", rest)), (url, ISO.search(rest))
    assert times >= 10  # the crawl saw schedules, jobs, attempts, grades, members


def test_the_publish_message_is_a_local_time(app, world):
    client = client_as(app, "mentor")
    resp = client.post(f"/mentor/puzzles/{LIVE}/publish", data={"csrf_token": csrf_token(client, "/mentor"),
                                                                 "confirm": "1", "override": "1"},
                       follow_redirects=True)
    body = resp.get_data(as_text=True)
    flash = re.search(r'<div class="flash success"[^>]*>(.*?)</div>', body, re.S).group(1)
    assert flash.startswith("Published: scholars see it from <time datetime=") and TIME.search(flash), flash
    assert "UTC" not in _without_allowed(flash)


def test_day_filters_are_days_in_the_viewers_zone(app, world):
    """An attempt at 23:30 UTC on a day is on the next day in Tokyo (UTC+9): filtering by that
    next day finds it with tz=Asia/Tokyo and not without; an unknown zone is refused."""
    from puzzle_platform.extensions import db
    from puzzle_platform.models import Question, Submission

    with app.app_context():
        sub = db.session.scalar(sa.select(Submission).join(Question, Question.id == Submission.question_id)
                                .where(Question.key == "pick").order_by(Submission.id).limit(1))
        at = sub.created_at.replace(hour=23, minute=30, second=0, microsecond=0) - timedelta(days=1)
        sub.created_at = at
        db.session.commit()
        sub_id = sub.id
    client = client_as(app, "mentor")
    url = f"/mentor/puzzles/{LIVE}/questions/pick/submissions?since={(at + timedelta(days=1)).date()}"
    assert f'id="sub-{sub_id}"' in client.get(url + "&tz=Asia/Tokyo").get_data(as_text=True)
    assert f'id="sub-{sub_id}"' not in client.get(url).get_data(as_text=True)
    page = client.get(url + "&tz=Asia/Tokyo").get_data(as_text=True)
    assert 'name="tz" value="Asia/Tokyo" data-browser-zone' in page  # kept for the next filter
    bad = client.get(url + "&tz=Not/AZone")
    assert bad.status_code == 400 and "unknown time zone" in bad.get_data(as_text=True)
