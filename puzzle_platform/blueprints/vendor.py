"""plotly.js served from the installed plotly package (no CDN, works offline), and the favicon."""
from __future__ import annotations

from pathlib import Path

from flask import Blueprint, abort, send_from_directory

bp = Blueprint("vendor", __name__)


def _plotly_dir() -> Path:
    import plotly  # the Python package ships plotly.min.js in package_data
    return Path(plotly.__file__).parent / "package_data"


@bp.get("/vendor/plotly.min.js")
def plotly_js():
    folder = _plotly_dir()
    if not (folder / "plotly.min.js").is_file():
        abort(404, "plotly.min.js is not bundled with the installed plotly package.")
    return send_from_directory(folder, "plotly.min.js", mimetype="text/javascript", max_age=86400)


@bp.get("/favicon.ico")
def favicon():
    """Browsers ask for /favicon.ico whatever the page links; answer with the SVG icon (every
    page links it too) instead of a 404 in every console."""
    return send_from_directory(Path(bp.root_path).parent / "static", "favicon.svg",
                               mimetype="image/svg+xml", max_age=86400)
