"""Configuration from the environment, with an embedded default that needs no setup.

Every variable is listed in the README's configuration table; keep the two in step.
"""
from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


class ConfigError(RuntimeError):
    """A configuration that cannot work (raised at start-up, never at request time)."""


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def _secret_key(instance: Path, production: bool) -> str:
    """Use SECRET_KEY; in the embedded default generate one once and keep it under instance/.

    Keeping it on disk means sessions survive a restart; production must set it explicitly
    so that several web processes on several boxes agree.
    """
    key = os.environ.get("SECRET_KEY")
    if key:
        return key
    if production:
        raise ConfigError("SECRET_KEY must be set when PUZZLES_PRODUCTION=1")
    path = instance / "secret_key"
    if path.exists():
        return path.read_text().strip()
    key = secrets.token_hex(32)
    path.write_text(key)
    path.chmod(0o600)
    return key


def _waits(raw: str) -> tuple[int, ...]:
    try:
        waits = tuple(int(x) for x in raw.split(",") if x.strip())
    except ValueError as exc:
        raise ConfigError(f"WRONG_ANSWER_WAITS must be comma-separated seconds, got {raw!r}") from exc
    if not waits or any(w < 0 for w in waits):
        raise ConfigError(f"WRONG_ANSWER_WAITS must be non-negative seconds, got {raw!r}")
    return waits


def _positive(env: dict, name: str, default: int) -> int:
    raw = env.get(name) or str(default)
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    if value < 1:
        raise ConfigError(f"{name} must be at least 1, got {value}")
    return value


def _choice(env: dict, name: str, default: str, allowed: tuple[str, ...]) -> str:
    value = (env.get(name) or default).strip().lower()
    if value not in allowed:
        raise ConfigError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
    return value


def mail_settings(env: dict) -> dict:
    """Email notifications (community/notifications.py, jobs/mail.py). SMTP_HOST empty (the
    default) turns sending off: notifications stay queued and nothing else changes."""
    user = env.get("SMTP_USER", "")
    starttls = env.get("SMTP_STARTTLS")
    return {
        "SMTP_HOST": env.get("SMTP_HOST", "").strip(),
        "SMTP_PORT": _positive(env, "SMTP_PORT", 587),
        "SMTP_USER": user,
        "SMTP_PASSWORD": env.get("SMTP_PASSWORD", ""),
        # STARTTLS by default whenever there is a password to protect.
        "SMTP_STARTTLS": _truthy(starttls) if starttls not in (None, "") else bool(user),
        "MAIL_FROM": env.get("MAIL_FROM") or "puzzles@localhost",
        # The site's public address (https://puzzles.example.org) for links in emails; empty:
        # emails carry no link.
        "SITE_URL": env.get("SITE_URL", "").strip().rstrip("/"),
    }


def log_format(env: dict | None = None) -> str:
    """LOG_FORMAT, defaulting to JSON lines in production and plain text elsewhere."""
    env = os.environ if env is None else env
    return _choice(env, "LOG_FORMAT", "json" if _truthy(env.get("PUZZLES_PRODUCTION")) else "text",
                   ("text", "json"))


def server_settings(env: dict | None = None) -> dict:
    """gunicorn's settings (read by gunicorn.conf.py), here so every variable has one home.

    BIND wins over PORT; WEB_CONCURRENCY defaults to gunicorn's advice, 2 x cores + 1.
    """
    env = os.environ if env is None else env
    port = int(env.get("PORT", "8000"))
    bind = env.get("BIND") or f"0.0.0.0:{port}"
    settings = {
        "bind": bind,
        "workers": int(env.get("WEB_CONCURRENCY") or 2 * (os.cpu_count() or 1) + 1),
        "threads": int(env.get("WEB_THREADS", "4")),
        "timeout": int(env.get("WEB_TIMEOUT", "60")),
        "graceful_timeout": int(env.get("WEB_GRACEFUL_TIMEOUT", "30")),
    }
    if min(settings["workers"], settings["threads"], settings["timeout"]) < 1:
        raise ConfigError(f"WEB_CONCURRENCY, WEB_THREADS and WEB_TIMEOUT must be >= 1, got {settings}")
    return settings


def _gigabytes(env: dict, name: str, default: float) -> float:
    raw = env.get(name) or str(default)
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number of GB, got {raw!r}") from None
    if not value > 0:
        raise ConfigError(f"{name} must be more than 0, got {raw!r}")
    return value


def model_source_settings(env: dict | os._Environ, instance: Path | None = None) -> dict:
    """What puzzles may load (recipes/sources.py): read by the app's config and, outside an
    app (the `stats` command run on its own), straight from the environment."""
    instance = instance or Path(env.get("PUZZLES_INSTANCE") or REPO_ROOT / "instance")
    return {
        # Local models only inside this folder ("models:<folder>"); set it empty for none.
        "MODELS_DIR": env["MODELS_DIR"] if "MODELS_DIR" in env else str(instance / "models"),
        # Extra hub names, comma-separated, added to TransformerLens's names and aliases...
        "MODEL_ALLOWLIST": env.get("MODEL_ALLOWLIST", ""),
        # ... or, when set, the only hub names allowed (besides MODEL_ALLOWLIST and the admins').
        "MODEL_ALLOWLIST_ONLY": env.get("MODEL_ALLOWLIST_ONLY", ""),
        # The weight files of a hub model may total at most this many GB (checked before download).
        "MODEL_MAX_GB": _gigabytes(env, "MODEL_MAX_GB", 5),
    }


# Variables the docs (README, docs/DEPLOY.md) tell operators to set that are read elsewhere
# (before the config exists, in the worker, or by libraries); listed so that every documented
# variable can be found here.
VARIABLES_READ_ELSEWHERE = {
    "PUZZLES_INSTANCE": "instance folder (create_app reads it to place the app's instance_path)",
    "WORKER_MODEL_CACHE_MB": "per-worker bound on the warm model cache (worker/models_runtime.py)",
    "HF_HOME": "Hugging Face cache folder the worker loads models from",
    "HF_HUB_OFFLINE": "1: never contact the Hugging Face Hub (models must be cached)",
    "CUDA_VISIBLE_DEVICES": "which GPU a worker process sees (one worker per GPU)",
}


def load_config(instance_path: str, overrides: dict | None = None) -> dict:
    """Build the Flask config dict; `overrides` (tests) win over the environment."""
    overrides = overrides or {}
    env = {**os.environ, **{k: str(v) for k, v in overrides.items() if isinstance(v, str)}}
    # A boolean override (PUZZLES_PRODUCTION=True) must drive the values derived from it too.
    env.update({k: "1" if v else "0" for k, v in overrides.items() if isinstance(v, bool)})
    instance = Path(instance_path)
    instance.mkdir(parents=True, exist_ok=True)
    production = _truthy(env.get("PUZZLES_PRODUCTION"))
    broker_dir = instance / "broker"
    cfg: dict = {
        "PUZZLES_PRODUCTION": production,
        "SQLALCHEMY_DATABASE_URI": env.get("DATABASE_URL") or f"sqlite:///{instance / 'puzzles.sqlite3'}",
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "PUZZLES_DIR": env.get("PUZZLES_DIR") or str(REPO_ROOT / "puzzles"),
        "CELERY_BROKER_URL": env.get("CELERY_BROKER_URL") or "filesystem://localhost/",
        "CELERY_BROKER_DIR": env.get("CELERY_BROKER_DIR") or str(broker_dir),
        "WRONG_ANSWER_WAITS": _waits(env.get("WRONG_ANSWER_WAITS", "60,300,600")),
        # Submissions per minute per scholar (web and API together), and the API's limits
        # per token (access/tokens.py).
        "SUBMISSIONS_PER_MINUTE": _positive(env, "SUBMISSIONS_PER_MINUTE", 30),
        "API_REQUESTS_PER_MINUTE": _positive(env, "API_REQUESTS_PER_MINUTE", 120),
        "API_SUBMISSIONS_PER_MINUTE": _positive(env, "API_SUBMISSIONS_PER_MINUTE", 30),
        "JOB_STALE_SECONDS": int(env.get("JOB_STALE_SECONDS", "120")),
        "JOB_MAX_ATTEMPTS": int(env.get("JOB_MAX_ATTEMPTS", "3")),
        "JOB_HEARTBEAT_SECONDS": float(env.get("JOB_HEARTBEAT_SECONDS", "5")),
        "JOB_RECOVERY_SECONDS": float(env.get("JOB_RECOVERY_SECONDS", "30")),
        # A stopping worker (SIGTERM, SIGINT, SIGHUP) waits this long for its job, then kills
        # its pool and requeues the job (jobs/shutdown.py); `manage.py run` waits a little more.
        "WORKER_SHUTDOWN_SECONDS": float(env.get("WORKER_SHUTDOWN_SECONDS", "10")),
        "CELERY_VISIBILITY_TIMEOUT": int(env.get("CELERY_VISIBILITY_TIMEOUT", str(6 * 3600))),
        "MAX_CONTENT_LENGTH": 1024 * 1024,
        "WTF_CSRF_TIME_LIMIT": None,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        # The login cookie is permanent (PERMANENT_SESSION_LIFETIME, below) but re-sent only when
        # the session changes: never on a cacheable response such as /vendor/plotly.js.
        "SESSION_REFRESH_EACH_REQUEST": False,
        "SESSION_COOKIE_SECURE": production,
        "REMEMBER_COOKIE_SECURE": production,
        "SITE_NAME": env.get("SITE_NAME", "Mech Interp Puzzles"),
        # Operations (logging_setup.py, security.py): plain logs for a person at a terminal,
        # JSON lines for a log collector in production.
        "LOG_FORMAT": log_format(env),
        "LOG_LEVEL": env.get("LOG_LEVEL", "INFO").upper(),
        # A browser login (access/sessions.py) ends after SESSION_LIFETIME_DAYS whatever
        # happens, or after SESSION_IDLE_DAYS without a visit (the cookie is kept as long).
        "SESSION_LIFETIME_DAYS": _positive(env, "SESSION_LIFETIME_DAYS", 30),
        "SESSION_IDLE_DAYS": _positive(env, "SESSION_IDLE_DAYS", 14),
        # Login throttle (access/login_throttle.py): attempts per account and client address
        # (or known browser) per window; past the per-account ceiling, unknown browsers wait
        # delays that double up to LOGIN_MAX_DELAY seconds. Registrations per address per hour.
        "LOGIN_FAILURES_PER_ACCOUNT_ADDRESS": _positive(env, "LOGIN_FAILURES_PER_ACCOUNT_ADDRESS", 5),
        "LOGIN_FAILURES_PER_ACCOUNT": _positive(env, "LOGIN_FAILURES_PER_ACCOUNT", 20),
        "LOGIN_FAILURES_PER_ADDRESS": _positive(env, "LOGIN_FAILURES_PER_ADDRESS", 100),
        "LOGIN_FAILURE_WINDOW": _positive(env, "LOGIN_FAILURE_WINDOW", 900),
        "LOGIN_MAX_DELAY": _positive(env, "LOGIN_MAX_DELAY", 300),
        "REGISTRATIONS_PER_ADDRESS": _positive(env, "REGISTRATIONS_PER_ADDRESS", 5),
        "TRUSTED_PROXY_COUNT": int(env.get("TRUSTED_PROXY_COUNT", "0")),
        "HSTS_SECONDS": int(env.get("HSTS_SECONDS", "31536000")),
        **model_source_settings(env, instance),
        **mail_settings(env),
    }
    if production and cfg["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        # Allowed, but say so: several gunicorn workers on SQLite serialise every write.
        cfg["PRODUCTION_SQLITE_WARNING"] = True
    cfg.update({k: v for k, v in overrides.items()})
    cfg.setdefault("PERMANENT_SESSION_LIFETIME", timedelta(days=int(cfg["SESSION_LIFETIME_DAYS"])))
    if "SECRET_KEY" not in cfg:
        cfg["SECRET_KEY"] = _secret_key(instance, production)
    return cfg
