"""Searches: submit, list, inspect, page through candidates, Pareto front, control, clone, delete."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlalchemy.orm import Session

from backend.api import views
from backend.api.deps import DispatcherDep, ReadSession, SettingsDep, WriteSession, run_read
from backend.api.params import Cursor, Offset, SearchId
from backend.api.schemas import (
    CONFLICT,
    INVALID,
    NOT_FOUND,
    UNAVAILABLE,
    CandidatePage,
    FieldError,
    Pareto,
    SearchCreated,
    SearchDetail,
    SearchList,
    SearchStatus,
    StrategyStats,
)
from backend.api.security import token_name
from backend.api.validation import check_on_server, spec_field_error
from backend.db import repository
from backend.db.models import SEARCH_STATUSES
from backend.events import publish_change
from worker.nas.objectives import Goal
from worker.nas.spec import SearchSpec, repeat_specs

router = APIRouter(prefix="/api/searches", tags=["searches"])
log = logging.getLogger(__name__)

SearchStatusName = Literal["queued", "running", "paused", "completed", "failed", "cancelled"]
assert set(SearchStatusName.__args__) == set(SEARCH_STATUSES)  # type: ignore[attr-defined]


def _submit(
    request: Request, session: Session, dispatcher: DispatcherDep, spec: dict[str, Any], name: str
) -> SearchCreated:
    """Store the spec's searches (one, or a group of `repeats` under consecutive seeds), then queue them."""
    members, created_by = repeat_specs(spec), token_name(request.state)
    group_id = repository.create_group(session, spec, name, created_by).id if len(members) > 1 else None
    searches = [repository.create_search(session, member, name, group_id) for member in members]
    for search in searches:
        search.created_by = created_by  # stored by the commit below
    session.commit()
    ids = [search.id for search in searches]
    for i, search_id in enumerate(ids):
        try:
            dispatcher.start(search_id)
        except Exception as exc:  # stored: say so and mark the unqueued failed rather than leave them queued
            log.exception("could not enqueue search %s", search_id)
            for left in ids[i:]:
                repository.finish_search(session, left, "failed", error=f"could not enqueue: {exc}")
            session.commit()
            raise HTTPException(
                503, f"search {search_id} stored but the queue is unreachable: {exc}"
            ) from exc
    return SearchCreated(id=ids[0], status=searches[0].status, group_id=group_id, search_ids=ids)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=SearchCreated,
    responses={**INVALID, **UNAVAILABLE},
)
def create_search(
    spec: SearchSpec,
    request: Request,
    session: WriteSession,
    dispatcher: DispatcherDep,
    settings: SettingsDep,
) -> SearchCreated | JSONResponse:
    data, errors = check_on_server(spec, settings)
    if not errors and spec.warm_start_from is not None:
        try:
            repository.get_search(session, spec.warm_start_from)
        except repository.NotFound:
            errors = [
                FieldError(field="warm_start_from", message=f"no search with id {spec.warm_start_from}")
            ]
    if errors:
        return JSONResponse({"detail": [e.model_dump() for e in errors]}, status_code=422)
    return _submit(request, session, dispatcher, data, spec.name)


@router.get("", response_model=SearchList)
def list_searches(
    session: ReadSession,
    status: SearchStatusName | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
) -> dict[str, Any]:
    rows, total = repository.list_searches(session, status=status, limit=limit, offset=offset)
    best = repository.fitness_of(session, [r.best_candidate_id for r in rows if r.best_candidate_id])
    items = [views.search_list_item(r, best.get(r.best_candidate_id)) for r in rows]
    return {"items": items, "total": total}


@router.get("/{search_id}", response_model=SearchDetail, responses=NOT_FOUND)
async def get_search(search_id: SearchId, request: Request) -> dict[str, Any]:
    summaries = request.app.state.summaries

    def read(session: Session) -> dict[str, Any]:
        search = repository.get_search(session, search_id)
        return views.search_detail(search, summaries.summary(session, search))

    return await run_read(request, read)


_NAME = "(?:" + "|".join(views.OPTIONAL_FIELDS) + ")"
FIELDS_PATTERN = rf"^ *(?:{_NAME} *)?(?:, *(?:{_NAME} *)?)*$"


@router.get("/{search_id}/candidates", response_model=CandidatePage, responses={**NOT_FOUND, **INVALID})
async def candidates_page(
    search_id: SearchId,
    request: Request,
    after: Cursor = 0,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
    fields: Annotated[
        str | None,
        Query(
            description="comma-separated optional members to send (default: all): "
            + ", ".join(views.OPTIONAL_FIELDS)
            + "; id, seq, status, rung, epochs and fitness are always sent",
            # Documented, not enforced by FastAPI: the check below answers with the allowed names.
            json_schema_extra={"pattern": FIELDS_PATTERN},
        ),
    ] = None,
) -> Response:
    chosen = frozenset(views.OPTIONAL_FIELDS)
    if fields is not None:
        chosen = frozenset(f.strip() for f in fields.split(",") if f.strip())
        unknown = sorted(chosen - set(views.OPTIONAL_FIELDS))
        if unknown:
            message = f"unknown field(s): {', '.join(unknown)}"
            error = FieldError(field="fields", message=message, allowed=list(views.OPTIONAL_FIELDS))
            return JSONResponse({"detail": [error.model_dump()]}, status_code=422)

    def read(session: Session) -> bytes:
        search = repository.get_search(session, search_id)
        rows = repository.candidate_rows_after(session, search_id, after, limit)
        next_after = rows[-1].seq if rows else after
        return views.candidate_page_json(rows, views.space_for(search.spec), next_after, chosen)

    # Written straight to JSON (the response model above documents it; a unit test checks they agree).
    return Response(await run_read(request, read), media_type="application/json")


# A metric name (or "fitness") as a Pareto axis.
AXIS = r"^[A-Za-z][A-Za-z0-9_]{0,63}$"


@router.get("/{search_id}/pareto", response_model=Pareto, responses={**NOT_FOUND, **INVALID})
def pareto(
    search_id: SearchId,
    session: ReadSession,
    x: Annotated[
        str | None,
        Query(pattern=AXIS, description="x axis: a metric or fitness (default: the first objective)"),
    ] = None,
    y: Annotated[
        str | None,
        Query(pattern=AXIS, description="y axis: a metric or fitness (default: the second objective)"),
    ] = None,
    x_goal: Annotated[
        Goal | None,
        Query(
            description="the x axis's direction (default: the search's for it, else the metric's natural one)"
        ),
    ] = None,
    y_goal: Annotated[Goal | None, Query(description="the y axis's direction (as x_goal)")] = None,
    cloud: Annotated[bool, Query(description="also list every finished candidate (`all`)")] = True,
) -> dict[str, Any] | JSONResponse:
    """The non-dominated finished feasible candidates by the search's objectives, or by the axes `x`, `y`
    (any two metrics, each in the direction `x_goal`/`y_goal`, else the search's for it, else its natural
    one: a table's column, e.g. another device's latency, has none, so the page sends it), with those
    directions."""
    terms, front, everything = repository.pareto_candidates(session, search_id, [x, y], [x_goal, y_goal])
    space = views.space_for(repository.get_search(session, search_id).spec)
    return {
        "objectives": [t.metric for t in terms],
        "goals": [t.goal for t in terms],
        "items": [views.candidate_summary(c, space) for c in front],
        "all": [views.candidate_summary(c, space) for c in everything] if cloud else [],
    }


@router.get("/{search_id}/strategy", response_model=StrategyStats, responses=NOT_FOUND)
def strategy_stats(search_id: SearchId, session: ReadSession) -> dict[str, Any]:
    """What the strategy recorded about itself: a policy-gradient controller's per-step reward,
    baseline and entropy live under `extra.steps` of its state; scalar extras come along as they are."""
    search = repository.get_search(session, search_id)
    state = (search.strategy_state or {}).get("strategy") or {}
    extra = state.get("extra") or {}
    scalars = {k: v for k, v in extra.items() if isinstance(v, int | float | str | bool)}
    steps = extra.get("steps") if isinstance(extra.get("steps"), list) else []
    return {
        "strategy": (search.spec.get("strategy") or {}).get("type", ""),
        "steps": steps,
        "n_told": repository.count_told(session, search_id),
        **scalars,
    }


def _control(
    request: Request, search_id: int, action: str, session: Session, dispatcher: DispatcherDep
) -> SearchStatus:
    search = repository.set_search_status(session, search_id, action)
    session.commit()
    publish_change(request.app.state.settings, search_id, search.seq)  # wake SSE readers (Redis)
    dispatcher.control(search_id, action)
    return SearchStatus(id=search.id, status=search.status)


@router.post("/{search_id}/cancel", response_model=SearchStatus, responses={**NOT_FOUND, **CONFLICT})
def cancel(
    search_id: SearchId, request: Request, session: WriteSession, dispatcher: DispatcherDep
) -> SearchStatus:
    return _control(request, search_id, "cancel", session, dispatcher)


@router.post("/{search_id}/pause", response_model=SearchStatus, responses={**NOT_FOUND, **CONFLICT})
def pause(
    search_id: SearchId, request: Request, session: WriteSession, dispatcher: DispatcherDep
) -> SearchStatus:
    return _control(request, search_id, "pause", session, dispatcher)


@router.post("/{search_id}/resume", response_model=SearchStatus, responses={**NOT_FOUND, **CONFLICT})
def resume(
    search_id: SearchId, request: Request, session: WriteSession, dispatcher: DispatcherDep
) -> SearchStatus:
    return _control(request, search_id, "resume", session, dispatcher)


@router.post(
    "/{search_id}/clone",
    status_code=status.HTTP_201_CREATED,
    response_model=SearchCreated,
    responses={**NOT_FOUND, **INVALID, **UNAVAILABLE},
)
def clone(
    search_id: SearchId,
    request: Request,
    session: WriteSession,
    dispatcher: DispatcherDep,
    settings: SettingsDep,
) -> SearchCreated | JSONResponse:
    """A fresh search with the same spec (re-validated and re-checked: plugins, data and limits may have
    changed since)."""
    original = repository.get_search(session, search_id)
    name = f"{original.name} (clone of #{original.id})"[:200]
    try:
        spec = SearchSpec.model_validate({**original.spec, "name": name})
    except ValidationError as exc:
        errors = [spec_field_error(err, original.spec) for err in exc.errors(include_url=False)]
        return JSONResponse({"detail": [e.model_dump() for e in errors]}, status_code=422)
    data, errors = check_on_server(spec, settings)
    if errors:
        return JSONResponse({"detail": [e.model_dump() for e in errors]}, status_code=422)
    return _submit(request, session, dispatcher, data, name)


@router.delete("/{search_id}", status_code=status.HTTP_204_NO_CONTENT, responses=NOT_FOUND)
def delete_search(search_id: SearchId, session: WriteSession) -> Response:
    """Delete the search, its candidates and their artefact files. A running search is cancelled first."""
    search = repository.get_search(session, search_id)
    if search.status in ("queued", "running", "paused"):
        repository.set_search_status(session, search_id, "cancel")
    paths = repository.delete_search(session, search_id)
    session.commit()
    for path in paths:
        Path(path).unlink(missing_ok=True)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
