"""Jinja filters and globals shared by every page."""
from __future__ import annotations

from datetime import datetime

from flask import Flask
from markupsafe import Markup, escape

from .markdown import render_markdown
from .timeutil import iso, utcnow


def time_tag(dt: datetime | None, fmt: str = "%Y-%m-%d %H:%M UTC") -> Markup:
    """A <time> element in UTC; static/app.js rewrites it into the viewer's time zone."""
    if dt is None:
        return Markup("")
    return Markup(f'<time datetime="{escape(iso(dt))}" class="localtime">{escape(dt.strftime(fmt))}</time>')


def fmt_points(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.2f}".rstrip("0").rstrip(".") if value % 1 else f"{int(value)}"


def init_app(app: Flask) -> None:
    app.jinja_env.filters["markdown"] = render_markdown
    app.jinja_env.filters["time"] = time_tag
    app.jinja_env.filters["points"] = fmt_points
    app.jinja_env.filters["iso"] = iso

    def has_endpoint(name: str) -> bool:
        return name in app.view_functions

    @app.context_processor
    def _globals() -> dict:
        return {"now": utcnow(), "site_name": app.config["SITE_NAME"], "has_endpoint": has_endpoint}
