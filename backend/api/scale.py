"""Compound scaling of a finished candidate: a pre-filled follow-up spec, and submitting it.

The spec itself is built by the engine (worker.nas.scale_followup); this router only reads the
candidate and its search through the repository, turns the engine's ValueError into a 422 naming the
field, and submits through the same path as `POST /api/searches`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from backend.api.deps import DispatcherDep, ReadSession, SettingsDep, WriteSession
from backend.api.params import CandidateId
from backend.api.schemas import CONFLICT, INVALID, NOT_FOUND, UNAVAILABLE, FieldError, SearchCreated
from backend.api.searches import _submit
from backend.api.validation import check_on_server, validate_spec
from backend.db import repository
from worker.nas.scale_followup import DEFAULT_CANDIDATES, scale_spec

router = APIRouter(prefix="/api/candidates", tags=["candidates"])

BudgetMetric = Literal["flops", "params", "latency_ms"]
Factor = Annotated[float, Field(gt=0.05, le=64, description="budget = factor x the candidate's cost")]


class ScaleRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    factor: Factor = 2.0
    metric: BudgetMetric = Field("flops", description="the cost the budget is on")
    max_candidates: int = Field(DEFAULT_CANDIDATES, ge=2, le=1000, description="networks the search trains")


class ScaleSpec(BaseModel):
    candidate_id: int
    search_id: int
    factor: float
    metric: str
    spec: dict[str, Any] = Field(description="the follow-up search spec, ready for POST /api/searches")


class _Refused(Exception):
    def __init__(self, status_code: int, field: str, message: str) -> None:
        self.status_code, self.error = status_code, FieldError(field=field, message=message)


def _build(session: Session, candidate_id: int, req: ScaleRequest) -> tuple[dict[str, Any], int]:
    cand = repository.get_candidate(session, candidate_id)
    if cand.status != "done":
        raise _Refused(409, "candidate", f"candidate {candidate_id} is {cand.status}; only a done one scales")
    search = repository.get_search(session, cand.search_id)
    try:
        spec = scale_spec(
            search.spec,
            cand.genome,
            cand.metrics or {},
            factor=req.factor,
            metric=req.metric,
            max_candidates=req.max_candidates,
            name=f"{search.name} · candidate {candidate_id} scaled ×{req.factor:g} {req.metric}",
        )
    except ValueError as exc:
        field, _, message = str(exc).partition(": ")
        raise _Refused(422, field if message else "candidate", message or str(exc)) from exc
    return spec, cand.search_id


def _refusal(exc: _Refused) -> JSONResponse:
    if exc.status_code == 409:
        return JSONResponse({"detail": exc.error.message}, status_code=409)
    return JSONResponse({"detail": [exc.error.model_dump()]}, status_code=exc.status_code)


@router.get(
    "/{candidate_id}/scale-spec", response_model=ScaleSpec, responses={**NOT_FOUND, **CONFLICT, **INVALID}
)
def get_scale_spec(
    candidate_id: CandidateId,
    session: ReadSession,
    factor: Annotated[
        float, Query(gt=0.05, le=64, description="budget = factor x the candidate's cost")
    ] = 2.0,
    metric: BudgetMetric = "flops",
    max_candidates: Annotated[int, Query(ge=2, le=1000)] = DEFAULT_CANDIDATES,
) -> dict[str, Any] | JSONResponse:
    """The follow-up search that scales this candidate (pre-filled for the new-search form)."""
    req = ScaleRequest(factor=factor, metric=metric, max_candidates=max_candidates)
    try:
        spec, search_id = _build(session, candidate_id, req)
    except _Refused as exc:
        return _refusal(exc)
    return {
        "candidate_id": candidate_id,
        "search_id": search_id,
        "factor": factor,
        "metric": metric,
        "spec": spec,
    }


@router.post(
    "/{candidate_id}/scale",
    status_code=status.HTTP_201_CREATED,
    response_model=SearchCreated,
    responses={**NOT_FOUND, **CONFLICT, **INVALID, **UNAVAILABLE},
)
def scale_candidate(
    candidate_id: CandidateId,
    request: Request,
    session: WriteSession,
    dispatcher: DispatcherDep,
    settings: SettingsDep,
    body: ScaleRequest | None = None,
) -> SearchCreated | JSONResponse:
    """Submit the follow-up search that scales this candidate (the spec `scale-spec` shows)."""
    try:
        data, _ = _build(session, candidate_id, body or ScaleRequest())
    except _Refused as exc:
        return _refusal(exc)
    spec, errors = validate_spec(data)
    if not errors:
        data, errors = check_on_server(spec, settings)
    if errors:
        return JSONResponse({"detail": [e.model_dump() for e in errors]}, status_code=422)
    return _submit(request, session, dispatcher, data, spec.name)
