"""PostgreSQL and Redis for tests: required in CI (CI=true), skipped with a reason elsewhere."""
from __future__ import annotations

import os
import socket
import uuid

import pytest

PG_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def require(name: str, host: str, port: int) -> None:
    if _reachable(host, port):
        return
    missing(f"{name} is not reachable at {host}:{port}")


def missing(message: str) -> None:
    """Something a test needs is absent: fail in CI (CI=true), where it must run; skip elsewhere."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message}; CI must run this test", pytrace=False)
    pytest.skip(f"{message} (required in CI only)")


@pytest.fixture
def pg_url():
    """A fresh PostgreSQL schema per test, dropped afterwards."""
    require("PostgreSQL", "127.0.0.1", 5432)
    import sqlalchemy as sa

    schema = f"t_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = f"{PG_URL}?options=-csearch_path%3D{schema}"
    yield url
    with engine.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()


@pytest.fixture
def redis_url():
    require("Redis", "127.0.0.1", 6379)
    return REDIS_URL
