"""Jinja filters and globals shared by every page."""
from __future__ import annotations

import re
from datetime import datetime

from flask import Flask
from markupsafe import Markup, escape

from .markdown import render_markdown
from .timeutil import iso, parse_utc, utcnow

# A UTC time as messages write it (timeutil.iso): "2026-12-01T17:00:00Z".
ISO_UTC_RE = re.compile(r"\b\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?Z\b")


def time_tag(dt: datetime | None, fmt: str = "%Y-%m-%d %H:%M UTC") -> Markup:
    """A <time> element in UTC, with UTC on hover; static/app.js rewrites its text into the
    viewer's time zone (one zone per viewer), so pages without script still say UTC."""
    if dt is None:
        return Markup("")
    utc = escape(dt.strftime("%Y-%m-%d %H:%M UTC"))
    return Markup(f'<time datetime="{escape(iso(dt))}" class="localtime" title="{utc}">'
                  f'{escape(dt.strftime(fmt))}</time>')


def times_in(text: str) -> Markup:
    """A message (flash, validation error) with its UTC times as <time> elements, so they too
    are shown in the viewer's zone; the rest of the text is escaped. A message that is
    already markup (built with time_tag) is left as it is."""
    if isinstance(text, Markup):
        return text
    out, last = [], 0
    for match in ISO_UTC_RE.finditer(text):
        out.append(escape(text[last:match.start()]))
        try:
            out.append(time_tag(parse_utc(match.group())))
        except ValueError:
            out.append(escape(match.group()))
        last = match.end()
    out.append(escape(text[last:]))
    return Markup("").join(out)


def fmt_points(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.2f}".rstrip("0").rstrip(".") if value % 1 else f"{int(value)}"


def init_app(app: Flask) -> None:
    app.jinja_env.filters["markdown"] = render_markdown
    app.jinja_env.filters["time"] = time_tag
    app.jinja_env.filters["times"] = times_in
    app.jinja_env.filters["points"] = fmt_points
    app.jinja_env.filters["iso"] = iso

    def has_endpoint(name: str) -> bool:
        return name in app.view_functions

    @app.context_processor
    def _globals() -> dict:
        return {"now": utcnow(), "site_name": app.config["SITE_NAME"], "has_endpoint": has_endpoint}
