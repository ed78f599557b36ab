"""Engines and sessions for PostgreSQL (production) and SQLite (embedded).

SQLite runs in WAL mode with a busy timeout so several worker processes can share one file. Write
sessions open with `BEGIN IMMEDIATE` there: a deferred transaction that reads first and writes later can
fail at once with SQLITE_BUSY when another process committed in between; taking the write lock up front
makes writers queue behind the busy timeout instead.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from backend.settings import Settings, get_settings

SQLITE_BUSY_TIMEOUT_MS = 30_000


def _plain(value: object) -> object:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value if value is None or isinstance(value, str | int | bool) else str(value)


def dumps_json(value: object) -> str:
    """JSON columns' serializer: one pass for plain JSON (the usual case); NaN/inf become null, since
    PostgreSQL rejects them, and unknown objects their string."""
    try:
        return json.dumps(value, allow_nan=False)
    except (ValueError, TypeError):
        return json.dumps(_plain(value))


def _setup_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
        dbapi_conn.isolation_level = None  # SQLAlchemy emits BEGIN itself (see _on_begin)
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn) -> None:  # type: ignore[no-untyped-def]
        immediate = conn.get_execution_options().get("sqlite_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


_ENGINE_URLS: set[str] = set()


@lru_cache(maxsize=8)
def get_engine(url: str) -> Engine:
    _ENGINE_URLS.add(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, json_serializer=dumps_json
        )
        _setup_sqlite(engine)
        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        url = parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20, json_serializer=dumps_json)


@lru_cache(maxsize=8)
def _factories(url: str) -> tuple[sessionmaker[Session], sessionmaker[Session]]:
    engine = get_engine(url)
    read = sessionmaker(engine, expire_on_commit=False)
    write = sessionmaker(engine.execution_options(sqlite_write=True), expire_on_commit=False)
    return read, write


def session_factory(settings: Settings | None = None, *, write: bool = False) -> sessionmaker[Session]:
    read, wr = _factories((settings or get_settings()).database_url)
    return wr if write else read


@contextmanager
def session_scope(settings: Settings | None = None, *, write: bool = False) -> Iterator[Session]:
    """A session that commits on success and rolls back on error. Use `write=True` for any write."""
    with session_factory(settings, write=write)() as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


T = TypeVar("T")
WRITE_TRIES = 4


def _transient(exc: DBAPIError) -> bool:
    # A connection the server dropped (restart, pg_terminate_backend, failover) or an operational error
    # (lock timeout, SQLite busy): the transaction was rolled back whole, so running it again is safe.
    return exc.connection_invalidated or isinstance(exc, OperationalError)


def write_retrying(settings: Settings | None, work: Callable[[Session], T], *, tries: int = WRITE_TRIES) -> T:
    """`work(session)` in its own write transaction, run again on a fresh connection after a transient
    database error. For a training job's writes: losing one of them would cost the candidate its result
    (or, worse, record it failed), which a retry a second later does not."""
    for attempt in range(1, tries + 1):
        try:
            with session_scope(settings, write=True) as s:
                return work(s)
        except DBAPIError as exc:
            if attempt == tries or not _transient(exc):
                raise
            time.sleep(0.5 * attempt)
    raise AssertionError("unreachable")


def reset_after_fork() -> None:
    """In a freshly forked process: forget the parent's pooled connections without closing them (they
    belong to the parent), so this process opens its own. Celery's prefork pool calls this."""
    for url in list(_ENGINE_URLS):
        get_engine(url).dispose(close=False)
