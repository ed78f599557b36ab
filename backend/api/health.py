"""Liveness (`/healthz`: database and broker) and Prometheus metrics (`/metrics`)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import JSONResponse, PlainTextResponse

from backend.api.deps import ReadSession, SettingsDep
from backend.api.prometheus import render_metrics
from backend.api.schemas import Health
from backend.db import repository
from backend.settings import Settings

router = APIRouter(tags=["health"])

VERSION = "0.1.0"
PROBE_TIMEOUT_S = 1.0  # a probe must answer fast; a broker this slow is as good as down


def _error(exc: Exception) -> str:
    return f"error: {type(exc).__name__}: {exc}"[:300]


def broker_status(settings: Settings) -> str:
    """Ping a Redis broker; open an embedded SQLite broker's file. Other transports are not probed."""
    url = settings.broker_url
    try:
        if url.startswith(("redis://", "rediss://")):
            import redis

            client = redis.Redis.from_url(
                url, socket_timeout=PROBE_TIMEOUT_S, socket_connect_timeout=PROBE_TIMEOUT_S
            )
            try:
                client.ping()
            finally:
                client.close()
            return "ok"
        if url.startswith("sqla+sqlite:///"):
            path = Path(url.removeprefix("sqla+sqlite:///"))
            if not path.exists():  # kombu creates it on first use; its folder must be there
                return "ok" if path.parent.is_dir() else f"error: no folder {path.parent}"
            # mode=rw: never create a file from a probe; reading the schema proves it is a database.
            with sqlite3.connect(f"file:{path}?mode=rw", uri=True, timeout=PROBE_TIMEOUT_S) as conn:
                conn.execute("PRAGMA schema_version").fetchone()
            return "ok"
    except Exception as exc:  # report, do not raise: a probe wants a body saying what is down
        return _error(exc)
    return "ok" if url.startswith("memory://") else "unchecked"


@router.get(
    "/healthz",
    response_model=Health,
    responses={503: {"model": Health, "description": "the database or the broker failed"}},
)
def healthz(session: ReadSession, settings: SettingsDep) -> Health | JSONResponse:
    try:
        repository.ping(session)
        database = "ok"
    except Exception as exc:  # the type only: a driver's message may quote the connection string
        database = f"error: {type(exc).__name__}"
    broker = broker_status(settings)
    healthy = database == "ok" and not broker.startswith("error")
    body = Health(
        status="ok" if healthy else "unavailable", database=database, broker=broker, version=VERSION
    )
    return body if healthy else JSONResponse(body.model_dump(), status_code=503)


@router.get("/metrics", response_class=PlainTextResponse)
def metrics(session: ReadSession, settings: SettingsDep) -> PlainTextResponse:
    return PlainTextResponse(
        render_metrics(session, settings), media_type="text/plain; version=0.0.4; charset=utf-8"
    )
