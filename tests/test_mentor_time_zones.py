"""One time zone per viewer: every time a mentor or admin page shows is a <time> element
(UTC in its datetime and on hover; static/app.js shows it in the viewer's zone), messages
included; the web form's schedule errors say the form's zone with UTC beside it."""
from __future__ import annotations

import re
from datetime import datetime, timezone

from puzzle_platform.templating import times_in
from tests.explanation_helpers import grade
from tests.helpers import add_artifact
from tests.test_mentor_authoring import login_as, page_text, post, puzzle_form
from tests.test_who_answered import SLUG, _send, _world, add_version

TIME_EL = re.compile(r'<time datetime="(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z)" class="localtime" '
                     r'title="(\d{4}-\d\d-\d\d \d\d:\d\d) UTC">[^<]*</time>')
BARE_TIME = re.compile(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d|\d\d:\d\d UTC|\bUTC\b.{0,3}\d\d:\d\d")
HREF = re.compile(r'href="(/(?:mentor|admin)[^"#?]*(?:\?[^"#]*)?)"')


def _bare_times(html: str) -> list[str]:
    """Times outside <time> elements, in the text a reader sees (tags and attributes dropped)."""
    for iso_text, utc_text in TIME_EL.findall(html):
        when = datetime.fromisoformat(iso_text.replace("Z", "+00:00")).astimezone(timezone.utc)
        assert when.strftime("%Y-%m-%d %H:%M") == utc_text  # the hover says the same time in UTC
    text = TIME_EL.sub("", html)
    text = re.sub(r"<script\b.*?</script>|<textarea\b.*?</textarea>", "", text, flags=re.S)
    text = re.sub(r"<[^>]+>", " ", text)
    return BARE_TIME.findall(text)


def test_every_time_on_mentor_and_admin_pages_is_a_time_element(app, client, auth, puzzles_dir, sync):
    tokens, _ = _world(app, puzzles_dir, sync)
    _send(client, tokens, "ann", "pick", {"choice": "beta"})
    _send(client, tokens, "bob", "pick", {"choice": "alpha"})
    _send(client, tokens, "bob", "mean", {"value": 0.4})
    grade(app, add_version(app, SLUG, "why", "ann", "The mean vector."), ("mean_vector",), "Good")
    add_version(app, SLUG, "why", "bob", "No idea.")
    add_artifact(app, SLUG, "fig", {"mean_cos": 0.5})
    login_as(auth, "admin")
    todo, seen, times = ["/mentor", "/admin"], set(), 0
    while todo and len(seen) < 80:
        url = todo.pop(0)
        if url in seen or url.endswith((".csv", ".ipynb", ".json", "/logout")):
            continue
        seen.add(url)
        resp = client.get(url)
        if resp.status_code != 200 or "text/html" not in resp.content_type:
            continue
        html = resp.get_data(as_text=True)
        times += len(TIME_EL.findall(html))
        assert not _bare_times(html), (url, _bare_times(html))
        todo += [u.replace("&amp;", "&") for u in HREF.findall(html)]
    assert {f"/mentor/puzzles/{SLUG}", f"/mentor/puzzles/{SLUG}/answers",
            f"/mentor/puzzles/{SLUG}/questions/why/explanations"} <= seen
    assert times >= 5  # the crawl did see times (schedule, attempts, jobs)


def test_messages_show_their_times_as_time_elements():
    out = str(times_in("Ann has this answer open (claimed at 2026-12-01T17:05:09.123Z); <b>"))
    assert '<time datetime="2026-12-01T17:05:09.123000Z" class="localtime" title="2026-12-01 17:05 UTC">' in out
    assert "&lt;b&gt;" in out and not _bare_times(out)


def test_schedule_error_says_the_forms_zone_and_utc(app, client, auth):
    login_as(auth, "mentor")
    form = puzzle_form(tz="Europe/Paris", release_at="2026-12-10T18:00", deadline_at="2026-12-09T18:00",
                       reveal_at="2026-12-11T18:00")
    resp = post(client, "/mentor/puzzles/new", form)
    text = page_text(resp)
    assert resp.status_code == 400, text[-500:]
    assert "deadline_at (2026-12-09 18:00 Europe/Paris = 2026-12-09 17:00 UTC) is before release_at " \
           "(2026-12-10 18:00 Europe/Paris = 2026-12-10 17:00 UTC)" in text
