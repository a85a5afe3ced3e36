"""The notebook client served by the site: fetched through the HTTP client as a notebook
would (`urlretrieve(SITE + "/client/mip_client.py")`), executed, and its version checked
against the repository's file, the header and /client/version."""
from __future__ import annotations

import hashlib
import importlib.util
import types
from pathlib import Path

REPO_CLIENT = Path(__file__).resolve().parent.parent / "client" / "mip_client.py"


def _repo_version() -> str:
    spec = importlib.util.spec_from_file_location("mip_client_repo", REPO_CLIENT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.__version__


def test_the_client_downloads_and_imports(app):
    resp = app.test_client().get("/client/mip_client.py")
    assert resp.status_code == 200
    assert resp.mimetype == "text/x-python"
    module = types.ModuleType("mip_client")
    exec(compile(resp.data, "mip_client.py", "exec"), module.__dict__)  # what `import mip_client` runs
    assert module.__version__ == _repo_version() == resp.headers["X-Client-Version"]
    client = module.Client("https://puzzles.example.org/api/v1", "mip_x")
    assert client.base_url == "https://puzzles.example.org"
    err = module.MIPError(429, "wait", 7)
    assert (err.status, err.retry_after) == (429, 7)
    assert resp.data == REPO_CLIENT.read_bytes()  # the repository's link and the package's file are one


def test_the_version_endpoint_matches_the_file(app):
    http = app.test_client()
    data = http.get("/client/mip_client.py").data
    info = http.get("/client/version").get_json()
    assert info["version"] == _repo_version()
    assert info["sha256"] == hashlib.sha256(data).hexdigest()
    assert info["url"].endswith("/client/mip_client.py")


def test_the_client_revalidates_by_etag(app):
    http = app.test_client()
    first = http.get("/client/mip_client.py")
    assert first.headers["Cache-Control"] == "no-cache" and first.headers["ETag"]
    again = http.get("/client/mip_client.py", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""
