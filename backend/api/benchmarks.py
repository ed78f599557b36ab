"""Stored tabular-benchmark runs: `nasboard bench tabular --publish` posts one, the benchmarks page lists
them and draws their curves. The band and spreads are the engine's (`worker.nas.bench.curve_stats`)."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request, Response, status
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from backend.api import views
from backend.api.benchmark_schemas import (
    BenchmarkCreated,
    BenchmarkDetail,
    BenchmarkList,
    BenchmarkRunIn,
)
from backend.api.deps import ReadSession, WriteSession
from backend.api.params import Offset
from backend.api.schemas import INVALID, NOT_FOUND, FieldError
from backend.api.security import token_name
from backend.api.validation import unsafe_values
from backend.db import repository
from backend.db.models import BenchmarkRun
from backend.db.session import session_scope
from worker.nas.bench import curve_stats, spread
from worker.nas.spec import MAX_ID

router = APIRouter(prefix="/api/benchmarks", tags=["benchmarks"])
WHOLE_CHECK = re.compile(r"^([a-z_]+(?:\.[a-z_0-9]+)*): (.+)$", re.S)
BODY = {"$ref": "#/components/schemas/BenchmarkRunIn"}


def install_schema(app: FastAPI) -> None:
    """Put the POST body's model in the OpenAPI components (the route reads its body itself)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        from pydantic.json_schema import models_json_schema

        schema = generate()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        if "BenchmarkRunIn" not in components:
            _, defs = models_json_schema(
                [(BenchmarkRunIn, "validation")], ref_template="#/components/schemas/{model}"
            )
            for name, model_schema in defs.get("$defs", {}).items():
                components.setdefault(name, model_schema)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _run_id(run_id: Annotated[int, Path(description="a stored benchmark run's id")]) -> int:
    if not 1 <= run_id <= MAX_ID:
        raise repository.NotFound(f"benchmark run {run_id} not found")
    return run_id


RunId = Annotated[int, Depends(_run_id)]


def curve_kind(document: dict[str, Any]) -> str:
    """Several objectives: the hypervolume ratio; one: the report value of the pick."""
    return "hypervolume_ratio" if len(document["objectives"]) > 1 else "report"


def _curves(document: dict[str, Any]) -> list[list[Any]]:
    kind = curve_kind(document)
    return [run["curves"][kind] or [] for run in document["runs"]]


def _summary(document: dict[str, Any]) -> dict[str, Any]:
    """What the list shows, kept beside the document so a list never reads the curves."""
    return {
        "table": document["table"],
        "space": document["space"],
        "report_column": document["report_column"],
        "objectives": document["objectives"],
        "budget": document["budget"],
        "repeats": document["repeats"],
        "curve": curve_kind(document),
        "final": spread([c[-1][1] if c else None for c in _curves(document)]),
    }


def _item(row: BenchmarkRun) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "strategy": row.strategy,
        "created_at": views.utc(row.created_at),
        "created_by": row.created_by,
        **row.summary,
    }


def field_errors(err: ValidationError) -> list[FieldError]:
    """The document's errors as `{field, message, allowed}`. The app's 422 handler words a search spec's
    errors, which is why this route reads its body itself."""
    out = []
    for e in err.errors(include_url=False):
        expected = (e.get("ctx") or {}).get("expected")
        allowed = re.findall(r"'([^']*)'", expected) if isinstance(expected, str) else None
        loc = [str(p) for p in e["loc"]]
        message = str(e["msg"]).removeprefix("Value error, ")
        named = WHOLE_CHECK.match(message)  # a check across fields names the one it blames
        if named:
            loc, message = [*loc, named[1]], named[2]
        field = ".".join(loc) or "body"
        if e["type"] == "extra_forbidden":
            message = f"unknown field {e['loc'][-1]!r}"
        out.append(FieldError(field=field, message=message, allowed=allowed or None))
    return out


def _invalid(errors: list[FieldError]) -> JSONResponse:
    return JSONResponse({"detail": [e.model_dump() for e in errors]}, status_code=422)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=BenchmarkCreated,
    responses=INVALID,
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/json": {"schema": {"$ref": BODY}}}}
    },
)
async def create_benchmark_run(request: Request) -> BenchmarkCreated | JSONResponse:
    """Store one run of `nasboard bench tabular` (its settings, per-repeat curves and picks): the
    document that `nasboard bench tabular --publish` sends."""
    try:
        raw = json.loads(await request.body())
    except (ValueError, UnicodeDecodeError):
        return JSONResponse({"detail": "the body could not be read (not UTF-8 JSON)"}, status_code=400)
    try:
        document = BenchmarkRunIn.model_validate(raw).model_dump(mode="json")
    except ValidationError as err:
        return _invalid(field_errors(err))
    errors = unsafe_values(document)
    if errors:
        return _invalid(errors)
    if not document["name"]:
        document["name"] = f"{document['strategy']} on {document['table']['file']}"
    return await anyio.to_thread.run_sync(_store, request, document)


def _store(request: Request, document: dict[str, Any]) -> BenchmarkCreated:
    with session_scope(request.app.state.settings, write=True) as session:
        row = repository.create_benchmark_run(
            session, document, _summary(document), token_name(request.state)
        )
        run_id = row.id
    return BenchmarkCreated(id=run_id, url=f"/benchmarks?ids={run_id}")


@router.get("", response_model=BenchmarkList)
def list_benchmark_runs(
    session: ReadSession, limit: Annotated[int, Query(ge=1, le=500)] = 50, offset: Offset = 0
) -> dict[str, Any]:
    """Stored runs, newest first, without their curves."""
    rows, total = repository.list_benchmark_runs(session, limit, offset)
    return {"items": [_item(r) for r in rows], "total": total}


@router.get("/{run_id}", response_model=BenchmarkDetail, responses=NOT_FOUND)
def get_benchmark_run(run_id: RunId, session: ReadSession) -> dict[str, Any]:
    """One run: its document, and across repeats the band of its curve and the spread at budget/2."""
    row = repository.get_benchmark_run(session, run_id)
    stats = curve_stats(_curves(row.document), row.document["budget"])
    return {**_item(row), "document": row.document, **stats}


@router.delete("/{run_id}", status_code=status.HTTP_204_NO_CONTENT, responses=NOT_FOUND)
def delete_benchmark_run(run_id: RunId, session: WriteSession) -> Response:
    repository.delete_benchmark_run(session, run_id)
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
