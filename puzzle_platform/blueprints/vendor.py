"""Files the site serves as they are: plotly.js from the installed plotly package (no CDN,
works offline), the favicon, and the notebook client at a stable URL with its version, so a
notebook fetches the client that matches the site it talks to."""
from __future__ import annotations

import ast
import hashlib
from functools import lru_cache
from pathlib import Path

from flask import Blueprint, Response, abort, jsonify, request, send_from_directory, url_for

bp = Blueprint("vendor", __name__)

# In the package (so an installed site has it); client/mip_client.py in the repository links here.
CLIENT_FILE = Path(__file__).resolve().parent.parent / "notebook_client" / "mip_client.py"


def _plotly_dir() -> Path:
    import plotly  # the Python package ships plotly.min.js in package_data
    return Path(plotly.__file__).parent / "package_data"


@bp.get("/vendor/plotly.min.js")
def plotly_js():
    folder = _plotly_dir()
    if not (folder / "plotly.min.js").is_file():
        abort(404, "plotly.min.js is not bundled with the installed plotly package.")
    return send_from_directory(folder, "plotly.min.js", mimetype="text/javascript", max_age=86400)


@lru_cache(maxsize=1)
def client_source() -> tuple[bytes, str, str]:
    """The client's bytes, its `__version__` (read from the source, not imported: the web
    process never runs it) and its SHA-256; read once per process."""
    data = CLIENT_FILE.read_bytes()
    version = next(node.value.value for node in ast.parse(data).body
                   if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
                   and any(isinstance(t, ast.Name) and t.id == "__version__" for t in node.targets))
    return data, str(version), hashlib.sha256(data).hexdigest()


@bp.get("/client/mip_client.py")
def client_py():
    """The notebook client, for `urllib.request.urlretrieve(SITE + "/client/mip_client.py", ...)`.
    Revalidated on every fetch (ETag), so a notebook never keeps an old client by accident."""
    data, version, digest = client_source()
    resp = Response(data, mimetype="text/x-python")
    resp.headers["X-Client-Version"] = version
    resp.headers["Content-Disposition"] = 'inline; filename="mip_client.py"'
    resp.headers["Cache-Control"] = "no-cache"
    resp.set_etag(digest)
    return resp.make_conditional(request)


@bp.get("/client/version")
def client_version():
    """Which client this site serves: compare with `mip_client.__version__` in a notebook."""
    _, version, digest = client_source()
    return jsonify({"version": version, "sha256": digest,
                    "url": url_for("vendor.client_py", _external=True)})


@bp.get("/favicon.ico")
def favicon():
    """Browsers ask for /favicon.ico whatever the page links; answer with the SVG icon (every
    page links it too) instead of a 404 in every console."""
    return send_from_directory(Path(bp.root_path).parent / "static", "favicon.svg",
                               mimetype="image/svg+xml", max_age=86400)
