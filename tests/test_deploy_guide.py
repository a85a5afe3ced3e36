"""docs/DEPLOY.md, section (a) "One box", run as written in a scratch folder.

Every command of the section's ```bash blocks runs (through bash, with `set -e`), except those
that need root's system services, the network or a package index: the SKIPPED prefixes below,
a short explicit list. /srv/puzzles and /etc/puzzles are mapped to scratch folders, the venv's
python is this interpreter, `sudo -u puzzles` runs as the current user, and the owners `root`
and `puzzles` become the current user and group. The environment file is the doc's block,
with two values replaced: the database (a scratch SQLite file) and the broker (in memory).
The Hugging Face hub is the local stand-in of tests/worker/hub_server.py, serving tiny models
under the bundled puzzles' repo ids.

Then the doc's promises are checked independently of the code that ran: the env file means
the same to systemd (a parser written here, by systemd's rules) and to bash; the models are in
the cache; a job is queued for every figure of every bundled puzzle (counted from the
puzzle.toml files); with the hub gone and HF_HUB_OFFLINE=1 from the env file, puzzle 1's
figures compute; the web unit may write the export and instance folders; nginx compresses
plotly.min.js.
"""
from __future__ import annotations

import os
import re
import shlex
import shutil
import sqlite3
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.worker.hub_server import FakeHub

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "DEPLOY.md"
VENV_PYTHON = "/srv/puzzles/venv/bin/python"
SKIPPED = (  # root's services, the network, package indexes
    "apt-get ", "adduser ", "systemctl ", "journalctl ", "certbot ", "curl ",
    "sudo -u postgres ", "sudo -u puzzles git ", "sudo -u puzzles python3 -m venv ",
    "sudo -u puzzles /srv/puzzles/venv/bin/pip install ",
)
SERVED = {"EleutherAI/gpt-neo-125M": "text_neo", "gpt2": "text_gpt2"}  # repo id -> tiny model
COMMIT = "1234567890123456789012345678901234567890"


# --- reading the doc -----------------------------------------------------------------------

def section_a(doc: str) -> str:
    return doc[doc.index("## (a) One box"):doc.index("## (b)")]


def fenced(text: str) -> list[tuple[str, str]]:
    """(language, body) of every fenced block, in order."""
    return re.findall(r"^```(\w*)\n(.*?)^```", text, flags=re.M | re.S)


def is_env_block(body: str) -> bool:
    return bool(re.search(r"^PUZZLES_PRODUCTION=", body, flags=re.M))


def commands(body: str) -> list[str]:
    """The block's commands: comment and blank lines dropped, continued lines (ending in a
    backslash) kept with the line they continue, as bash reads them."""
    out: list[str] = []
    continued = False
    for line in body.splitlines():
        if continued:
            out[-1] += "\n" + line
        elif line.strip() and not line.lstrip().startswith("#"):
            out.append(line)
        else:
            continue
        continued = line.endswith("\\")
    return out


def systemd_environment_file(text: str) -> dict[str, str]:
    """What systemd's EnvironmentFile= makes of `text`: comments are whole lines starting with
    # or ;, KEY=VALUE with the whitespace around both trimmed, a value wholly in matching
    quotes unquoted; anything else on the line, a # included, is part of the value."""
    env: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        key, sep, value = line.partition("=")
        assert sep, f"not KEY=VALUE: {raw!r}"
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        env[key.strip()] = value
    return env


def bash_environment_file(path: Path) -> dict[str, str]:
    """What `set -a; . FILE` exports, in an otherwise empty environment."""
    out = subprocess.run(["env", "-i", "bash", "-c", f"set -a; . {shlex.quote(str(path))}; env -0"],
                         capture_output=True, check=True).stdout.decode()
    env = dict(item.split("=", 1) for item in out.split("\0") if item)
    for own in ("PWD", "SHLVL", "_", "OLDPWD"):
        env.pop(own, None)
    return env


# --- the scratch box -------------------------------------------------------------------------

class Box:
    """/srv/puzzles and /etc/puzzles under a scratch folder, and the commands run there."""

    def __init__(self, root: Path, hub: FakeHub):
        self.root, self.srv, self.etc = root, root / "srv", root / "etc"
        self.etc.parent.mkdir(parents=True, exist_ok=True)
        self.db = root / "puzzles.sqlite3"
        self.ran: list[str] = []
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("HF_", "PUZZLES_", "MODEL", "CELERY_", "SMTP_"))
                    and k not in ("DATABASE_URL", "SECRET_KEY", "TRANSFORMERS_OFFLINE", "BIND", "PORT")}
        self.env["HF_ENDPOINT"] = hub.endpoint

    def path(self, text: str) -> str:
        """The doc's paths and owners, mapped to the scratch box."""
        text = text.replace(VENV_PYTHON, shlex.quote(sys.executable))
        text = text.replace("/srv/puzzles", str(self.srv)).replace("/etc/puzzles", str(self.etc))
        uid, gid = str(os.getuid()), str(os.getgid())
        text = re.sub(r"-o (root|puzzles)\b", f"-o {uid}", text)
        text = re.sub(r"-g puzzles\b", f"-g {gid}", text)
        return re.sub(r"\b(root:puzzles|puzzles:puzzles|puzzles:)(?=\s)", f"{uid}:{gid}", text)

    def run_block(self, cmds: list[str]) -> None:
        script = ["set -e"]
        for i, cmd in enumerate(cmds):
            cmd = cmd.removeprefix("sudo -u puzzles ")
            script += [f"echo '@@ran {i}'", self.path(cmd)]
        proc = subprocess.run(["bash", "-c", "\n".join(script)], cwd=self.root, env=self.env,
                              capture_output=True, text=True, timeout=900)
        done = re.findall(r"^@@ran (\d+)$", proc.stdout, flags=re.M)
        assert proc.returncode == 0, (f"step failed: {cmds[int(done[-1])] if done else cmds[0]!r}\n"
                                      f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        assert len(done) == len(cmds)
        self.ran += cmds

    def write_env(self, body: str) -> None:
        """The doc's env file, with the database and broker of the scratch box."""
        replaced = {"DATABASE_URL": f"sqlite:///{self.db}", "CELERY_BROKER_URL": "memory://"}
        lines = []
        for line in body.splitlines():
            key = line.partition("=")[0]
            if key in replaced:
                line = f"{key}={replaced.pop(key)}"
            lines.append(line)
        assert not replaced, f"the env block lacks {sorted(replaced)}"
        env_file = self.etc / "env"
        assert env_file.is_file(), "the doc makes /etc/puzzles/env before it is filled"
        env_file.write_text(self.path("\n".join(lines)) + "\n")


@pytest.fixture
def hub(tiny_text_model_dirs):
    hub = FakeHub()
    for repo, tiny in SERVED.items():
        hub.add_commit(repo, COMMIT, FakeHub.folder_files(tiny_text_model_dirs[tiny]))
    hub.start()
    yield hub
    hub.stop()


def _bundled_figures() -> set[tuple[str, str]]:
    """(slug, figure key) of every bundled puzzle, from the files."""
    out = set()
    for toml in sorted((REPO / "puzzles").glob("*/puzzle.toml")):
        spec = tomllib.loads(toml.read_text(encoding="utf-8"))
        slug = spec.get("slug") or toml.parent.name.split("-", 1)[1]
        out |= {(slug, f["key"]) for f in spec.get("figures", [])}
    return out


def _jobs(db: Path) -> list[tuple[str, str, str]]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT p.slug, j.figure_key, j.status FROM jobs j "
                            "JOIN puzzles p ON p.id = j.puzzle_id").fetchall()


def test_one_box_steps_run_as_written(hub, tmp_path):
    section = section_a(DOC.read_text(encoding="utf-8"))
    blocks = fenced(section)
    box = Box(tmp_path / "box", hub)
    shutil.copytree(REPO, box.srv / "app", ignore=shutil.ignore_patterns(
        ".git", ".venv", "instance", "__pycache__", "*.sqlite3", ".pytest_cache", "artifacts"))

    skipped, env_body = [], None
    for lang, body in blocks:
        if lang != "bash":
            continue
        if is_env_block(body):
            env_body = body
            box.write_env(body)
            continue
        cmds = commands(body)
        skipped += [c for c in cmds if c.startswith(SKIPPED)]
        box.run_block([c for c in cmds if not c.startswith(SKIPPED)])
    assert env_body is not None

    # what was skipped is what a test cannot do, and the rest ran
    assert skipped and all(c.startswith(SKIPPED) for c in skipped)
    expected = [c for lang, body in blocks if lang == "bash" and not is_env_block(body)
                for c in commands(body) if not c.startswith(SKIPPED)]
    assert box.ran == expected

    # CPU torch before the app, so pip does not pull the CUDA build
    install = next(body for lang, body in blocks if "pip install" in body)
    cpu = install.index("pip install torch --index-url https://download.pytorch.org/whl/cpu")
    assert cpu < install.index("pip install '/srv/puzzles/app[")

    # /etc/puzzles exists, closed to others; the env file means the same to systemd and bash
    assert (box.etc.stat().st_mode & 0o777) == 0o750
    env_file = box.etc / "env"
    assert (env_file.stat().st_mode & 0o777) == 0o640
    systemd = systemd_environment_file(env_file.read_text())
    assert systemd == bash_environment_file(env_file)
    assert systemd["HF_HUB_OFFLINE"] == "1" and systemd["HF_HOME"] == str(box.srv / "hf")
    assert systemd["SECRET_KEY"] and systemd["PUZZLES_PRODUCTION"] == "1"

    # the bundled puzzles' models are in the cache the env file names
    hub_cache = box.srv / "hf" / "hub"
    for repo in SERVED:
        snapshots = hub_cache / f"models--{repo.replace('/', '--')}" / "snapshots" / COMMIT
        assert (snapshots / "config.json").is_file() and (snapshots / "model.safetensors").is_file()

    # a job queued for every figure of every bundled puzzle: no answer stays pending for ever
    assert {(slug, key) for slug, key, _ in _jobs(box.db)} == _bundled_figures()

    # what the worker then does, from the env file: offline (the hub is gone), from the cache
    hub.stop()
    first = "suspiciously-similar-embeddings"
    run = subprocess.run(
        ["sh", "-c", f"set -a; . {env_file}; set +a; exec {shlex.quote(sys.executable)} manage.py "
                     f"puzzles compute {first} --inline"],
        cwd=box.srv / "app", env=box.env, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    statuses = {key: status for slug, key, status in _jobs(box.db) if slug == first}
    assert statuses and set(statuses.values()) == {"succeeded"}, statuses

    # the web unit may write the export folder and the instance folder
    units = [body for lang, body in blocks if lang == "ini"]
    web = next(u for u in units if "gunicorn" in u)
    writable = {w for line in web.splitlines() if line.startswith("ReadWritePaths=")
                for w in line.partition("=")[2].split()}
    original = systemd_environment_file(env_body)
    assert {original["PUZZLES_DIR"], original["PUZZLES_INSTANCE"]} <= writable
    assert "ProtectSystem=strict" in web.splitlines()

    # nginx compresses JavaScript, in a location that serves plotly.min.js
    nginx = next(body for lang, body in blocks if lang == "nginx")
    gzipped = [loc for loc in re.findall(r"location ~ (\S+) \{(.*?)\n    \}", nginx, flags=re.S)
               if "gzip on;" in loc[1]]
    assert any(re.search(pattern, "/vendor/plotly.min.js") and re.search(
        r"gzip_types[^;]*\bapplication/javascript\b", body) for pattern, body in gzipped), nginx
