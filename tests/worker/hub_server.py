"""A local stand-in for the Hugging Face hub: the endpoints huggingface_hub calls to look a
model up and download it, on a loopback port, with every request logged.

It answers as the hub does (huggingface_hub 2.x): the repo and revision API with the file
list and sizes (GET /api/models/<repo>[/revision/<rev>]?blobs=true), the file tree of a commit
(GET /api/models/<repo>/tree/<commit>), and /<repo>/resolve/<rev>/<file> for HEAD and GET with
X-Repo-Commit and an ETag (the git blob sha1). Weight files are LFS files: their resolve URL
answers 302 with X-Linked-Etag (their sha256) and X-Linked-Size, pointing at another host name
of the same server (localhost instead of 127.0.0.1), as the hub points at its CDN. Unknown
repos and revisions get the hub's 404s with X-Error-Code. A HEAD of / answers 200 (the
worker's reachability probe).
"""
from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

LFS_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class FakeHub:
    """repos[repo_id][commit] = {file name: bytes}; branches[repo_id][name] = commit."""

    repos: dict[str, dict[str, dict[str, bytes]]] = field(default_factory=dict)
    branches: dict[str, dict[str, str]] = field(default_factory=dict)
    log: list[tuple[str, str]] = field(default_factory=list)  # (method, path), in order
    _server: ThreadingHTTPServer | None = None

    def add_commit(self, repo_id: str, commit: str, files: dict[str, bytes],
                   branch: str | None = "main") -> None:
        self.repos.setdefault(repo_id, {})[commit] = dict(files)
        if branch:
            self.branches.setdefault(repo_id, {})[branch] = commit

    @staticmethod
    def folder_files(folder: Path) -> dict[str, bytes]:
        """A saved model folder as repo files, plus what every hub repo has."""
        files = {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}
        files[".gitattributes"] = b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n"
        files["README.md"] = b"# A tiny test model\n"
        return files

    # --- the server -------------------------------------------------------------------

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.server_address[1]

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "FakeHub":
        hub = self

        class Handler(_Handler):
            pass
        Handler.hub = hub
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # --- what the log says --------------------------------------------------------------

    def weight_gets(self) -> list[str]:
        """GETs that fetched weight bytes (from the resolve URL or the 'CDN')."""
        return [p for m, p in self.log if m == "GET" and (p.startswith("/lfs/") or (
            "/resolve/" in p and p.endswith(LFS_SUFFIXES)))]

    def clear_log(self) -> None:
        self.log.clear()

    # --- lookups --------------------------------------------------------------------------

    def resolve(self, repo_id: str, rev: str) -> str | None:
        if rev in self.repos.get(repo_id, {}):
            return rev
        return self.branches.get(repo_id, {}).get(rev)

    def blob(self, sha256: str) -> bytes | None:
        for commits in self.repos.values():
            for files in commits.values():
                for data in files.values():
                    if hashlib.sha256(data).hexdigest() == sha256:
                        return data
        return None


def _entry(name: str, data: bytes) -> dict:
    out = {"type": "file", "path": name, "size": len(data), "oid": git_blob_sha1(data)}
    if name.endswith(LFS_SUFFIXES):
        out["lfs"] = {"oid": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": 134}
    return out


class _Handler(BaseHTTPRequestHandler):
    hub: FakeHub
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # quiet: the hub's own log is enough
        pass

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def do_GET(self) -> None:
        self._answer(body=True)

    def _send(self, status: int, body: bytes = b"", headers: dict | None = None,
              with_body: bool = True) -> None:
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if with_body:
            self.wfile.write(body)

    def _json(self, value, with_body: bool, headers: dict | None = None) -> None:
        self._send(200, json.dumps(value).encode(), {"Content-Type": "application/json", **(headers or {})},
                   with_body)

    def _not_found(self, code: str, with_body: bool, headers: dict | None = None) -> None:
        self._send(404, json.dumps({"error": code}).encode(),
                   {"X-Error-Code": code, "Content-Type": "application/json", **(headers or {})}, with_body)

    def _answer(self, body: bool) -> None:
        path = unquote(urlsplit(self.path).path)
        self.hub.log.append((self.command, path))
        parts = [p for p in path.split("/") if p]
        if not parts:
            return self._send(200, b"fake hub", with_body=body)
        if parts[0] == "lfs" and len(parts) == 2:
            data = self.hub.blob(parts[1])
            return self._send(200, data, with_body=body) if data is not None else self._send(404)
        if parts[:2] == ["api", "models"]:
            n = self._repo_parts(parts[2:])
            repo_id, tail = "/".join(parts[2:2 + n]), parts[2 + n:]
            if len(tail) >= 2 and tail[0] in ("revision", "tree"):
                return self._api(repo_id, tail[0], tail[1], body)
            if not tail:  # no revision: the default branch
                return self._api(repo_id, "revision", "main", body)
        n = self._repo_parts(parts)
        if len(parts) >= n + 3 and parts[n] == "resolve":
            return self._resolve("/".join(parts[:n]), parts[n + 1], "/".join(parts[n + 2:]), body)
        self._send(404, b"unknown path", with_body=body)

    def _repo_parts(self, parts: list[str]) -> int:
        """How many path parts name the repo: 1 for an id without an org that the hub holds
        (e.g. "gpt2", as the real hub has), else 2 (org/name)."""
        return 1 if parts and parts[0] in self.hub.repos else 2

    def _api(self, repo_id: str, kind: str, rev: str, body: bool) -> None:
        if repo_id not in self.hub.repos:
            return self._not_found("RepoNotFound", body)
        commit = self.hub.resolve(repo_id, rev)
        if commit is None:
            return self._not_found("RevisionNotFound", body)
        files = self.hub.repos[repo_id][commit]
        if kind == "tree":
            return self._json([_entry(n, d) for n, d in sorted(files.items())], body)
        siblings = [{"rfilename": n, "size": len(d), "blobId": git_blob_sha1(d),
                     **({"lfs": {"sha256": hashlib.sha256(d).hexdigest(), "size": len(d),
                                  "pointerSize": 134}} if n.endswith(LFS_SUFFIXES) else {})}
                    for n, d in sorted(files.items())]
        self._json({"id": repo_id, "modelId": repo_id, "sha": commit, "private": False,
                    "siblings": siblings}, body)

    def _resolve(self, repo_id: str, rev: str, name: str, body: bool) -> None:
        if repo_id not in self.hub.repos:
            return self._not_found("RepoNotFound", body)
        commit = self.hub.resolve(repo_id, rev)
        if commit is None:
            return self._not_found("RevisionNotFound", body)
        files = self.hub.repos[repo_id][commit]
        if name not in files:
            return self._not_found("EntryNotFound", body, {"X-Repo-Commit": commit})
        data = files[name]
        headers = {"X-Repo-Commit": commit}
        if name.endswith(LFS_SUFFIXES):
            sha = hashlib.sha256(data).hexdigest()
            headers.update({"X-Linked-Etag": f'"{sha}"', "X-Linked-Size": str(len(data)),
                            "ETag": f'"{git_blob_sha1(data)}"',
                            "Location": f"http://localhost:{self.hub.port}/lfs/{sha}"})
            return self._send(302, b"", headers, body)
        headers["ETag"] = f'"{git_blob_sha1(data)}"'
        self._send(200, data, headers, body)


def point_hub_at(hub: FakeHub, hf_home: Path, monkeypatch) -> None:
    """Make huggingface_hub (already imported, so its constants are read) use `hub` and a
    fresh cache under `hf_home`, online, for this test."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "ENDPOINT", hub.endpoint)
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE",
                        hub.endpoint + "/{repo_id}/resolve/{revision}/{filename}")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(hf_home / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_HOME", str(hf_home))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
