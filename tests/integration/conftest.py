"""Integration fixtures: a fresh PostgreSQL database and a separate Redis db for the session."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from services import service_missing

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
# a db number of its own, flushed before and after; sessions testing side by side each pick another
REDIS_URL = os.environ.get("NASBOARD_TEST_REDIS_URL", "redis://127.0.0.1:6379/13")


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    from sqlalchemy import create_engine, text

    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
    try:
        admin.connect().close()
    except Exception as exc:
        service_missing(
            f"PostgreSQL not reachable at 127.0.0.1:5432 ({type(exc).__name__}); start it to run this"
        )
    name = f"nasboard_test_{os.getpid()}"
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except Exception as exc:
        service_missing(f"Redis not reachable at 127.0.0.1:6379 ({type(exc).__name__}); start it to run this")
    client.flushdb()
    try:
        yield REDIS_URL
    finally:
        client.flushdb()
        client.close()
