"""The FastAPI application factory: `uvicorn --factory backend.app:create_app`.

Nothing heavy is imported here (no torch, no Celery): the engine's registry loads plugins lazily, and the
Celery dispatcher imports `worker.tasks` on first use, so the API starts in well under a second.
"""

from __future__ import annotations

import re
from functools import partial
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from backend.api import (
    activity,
    benchmarks,
    candidates,
    convergence,
    decisions,
    events,
    groups,
    health,
    importance,
    latency,
    meta,
    openapi,
    pages,
    scale,
    searches,
)
from backend.api.answer_cache import AnswerCache
from backend.api.body_limit import BodyLimit
from backend.api.deps import CeleryDispatcher, Dispatcher
from backend.api.docs import add_docs
from backend.api.heads import ChangeReads, SearchHeads
from backend.api.security import SecurityMiddleware
from backend.api.summary_cache import SummaryCache
from backend.api.validation import request_errors
from backend.db import repository
from backend.events import ChangeHub
from backend.settings import Settings, get_settings


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    detail = request_errors(exc.errors(), exc.body)
    return JSONResponse({"detail": [d.model_dump() for d in detail]}, status_code=422)


def _status(code: int):  # type: ignore[no-untyped-def]
    async def handler(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=code)

    return handler


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    """FastAPI's answer, except that a 405's `Allow` lists every method the OpenAPI document gives the path
    (the router names only those of the first route it matched, e.g. GET but not DELETE)."""
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        methods = {
            method.upper()
            for template, operations in request.app.openapi()["paths"].items()
            if re.fullmatch(re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)), request.url.path)
            for method in operations
        }
        if methods:
            headers["Allow"] = ", ".join(sorted(methods))
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=headers)


def create_app(settings: Settings | None = None, dispatcher: Dispatcher | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPI(
        title="NASBoard",
        version=health.VERSION,
        description="Neural architecture search as a service: submit searches, follow candidates live.",
        docs_url=None,  # served by add_docs with local assets
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.dispatcher = dispatcher or CeleryDispatcher()
    app.state.summaries = SummaryCache()
    app.state.importances = AnswerCache()  # per search, under its scored-candidate version
    app.state.hypervolumes = AnswerCache()  # per (search, reference), under the search's change counter
    app.state.group_answers = AnswerCache()  # per group (or compared groups), under their members' counters
    app.state.search_heads = SearchHeads(settings)
    app.state.change_reads = ChangeReads(partial(events.read_changes, settings, app.state.summaries))
    app.state.change_hub = ChangeHub(settings)
    app.router.on_shutdown.append(app.state.change_hub.close)
    app.state.stream_slots = events.StreamSlots(settings)
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(repository.NotFound, _status(404))
    app.add_exception_handler(repository.InvalidTransition, _status(409))
    routers = (
        searches,
        importance,
        decisions,
        convergence,
        latency,
        groups,
        benchmarks,
        activity,
        candidates,
        scale,
        events,
        meta,
        health,
        pages,
    )
    for module in routers:
        app.include_router(module.router)
    add_docs(app)
    openapi.install(app)  # declare the 422/413 bodies the app really sends
    benchmarks.install_schema(app)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(SecurityMiddleware, settings=settings)
    # Mounted last so the explicit routes above (the local plotly bundle) win over the directory.
    app.mount("/static", StaticFiles(directory=Path(settings.frontend_dir), check_dir=False), name="static")
    return app
