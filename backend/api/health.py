"""Liveness (`/healthz`) and Prometheus metrics (`/metrics`)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, PlainTextResponse

from backend.api.deps import ReadSession, SettingsDep
from backend.api.prometheus import render_metrics
from backend.api.schemas import Health
from backend.db import repository

router = APIRouter(tags=["health"])

VERSION = "0.1.0"


@router.get("/healthz", response_model=Health)
def healthz(session: ReadSession) -> Health | JSONResponse:
    try:
        repository.ping(session)
    except Exception as exc:  # report, do not raise: a probe wants a body saying what is down
        body = Health(status="unavailable", database=f"error: {type(exc).__name__}", version=VERSION)
        return JSONResponse(body.model_dump(), status_code=503)
    return Health(status="ok", database="ok", version=VERSION)


@router.get("/metrics", response_class=PlainTextResponse)
def metrics(session: ReadSession, settings: SettingsDep) -> PlainTextResponse:
    return PlainTextResponse(
        render_metrics(session, settings), media_type="text/plain; version=0.0.4; charset=utf-8"
    )
