#!/usr/bin/env python3
"""Bootstrap: `python3 dev.py run` (install + serve) and `python3 dev.py test` (install + tests).

A fresh machine needs only Python 3.11+. The virtual environment lives in .venv/; installs are
skipped when pyproject.toml has not changed since the last one. torch is installed first, as
`torch==2.13.0` unless TORCH_SPEC says otherwise (e.g. TORCH_SPEC="torch" for the newest CUDA
build, or a torch already installed in the venv is kept), so that the worker extra's unpinned
`torch>=2.4` never pulls a multi-GB build you did not choose.

On POSIX, dev.py then becomes the command (exec): Ctrl-C, SIGTERM or SIGHUP reach the server
directly, which stops its worker; a middleman would kill the server before it could.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("PUZZLES_VENV", ROOT / ".venv"))
PY = VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
EXTRAS = {"run": "worker", "test": "dev", "install": "dev"}


def sh(*args: str | Path, **kw) -> None:
    print("+", " ".join(str(a) for a in args), flush=True)
    subprocess.run([str(a) for a in args], check=True, **kw)


def ensure_env(extra: str) -> None:
    if sys.version_info < (3, 11):
        sys.exit(f"Python 3.11+ is needed; this is {sys.version.split()[0]}")
    if not PY.exists():
        venv.EnvBuilder(with_pip=True).create(VENV)
        sh(PY, "-m", "pip", "install", "-q", "--upgrade", "pip")
    stamp_key = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + extra.encode()).hexdigest()[:16]
    stamp = VENV / f".installed-{stamp_key}"
    if stamp.exists():
        return
    has_torch = subprocess.run([str(PY), "-c", "import torch"], capture_output=True).returncode == 0
    if not has_torch:
        sh(PY, "-m", "pip", "install", "-q", os.environ.get("TORCH_SPEC", "torch==2.13.0"))
    sh(PY, "-m", "pip", "install", "-q", "-e", f".[{extra}]", cwd=ROOT)
    for old in VENV.glob(".installed-*"):
        old.unlink()
    stamp.touch()


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in EXTRAS:
        print(__doc__)
        print("usage: python3 dev.py run [manage.py run options] | test [pytest options] | install")
        return 2
    cmd, rest = argv[0], argv[1:]
    ensure_env(EXTRAS[cmd])
    if cmd == "install":
        return 0
    args = [str(PY), "manage.py", "run", *rest] if cmd == "run" else [str(PY), "-m", "pytest", *rest]
    if os.name == "posix":
        sys.stdout.flush()
        os.chdir(ROOT)
        os.execv(args[0], args)
    return subprocess.call(args, cwd=ROOT)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
