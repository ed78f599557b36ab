"""Groups: the searches one spec with `repeats: k` ran under k seeds, as curves with a band across seeds.

Each member's curve is its best fitness so far (one objective) or the hypervolume of its front so far
(several), against evaluations; the band is their mean, standard deviation and range. Groups compared
together share one hypervolume reference point, so their curves can be drawn on one chart.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from backend.api import views
from backend.api.convergence import as_evaluations, objective_of
from backend.api.deps import ReadSession
from backend.api.params import GroupId, Offset
from backend.api.schemas import (
    INVALID,
    NOT_FOUND,
    FieldError,
    GroupComparison,
    GroupDetail,
    GroupList,
)
from backend.db import repository
from backend.db.models import SearchGroup
from worker.nas.convergence import band, best_so_far, hypervolume_curves, steps
from worker.nas.objectives import REFERENCE_RULE
from worker.nas.spec import MAX_ID

router = APIRouter(prefix="/api/groups", tags=["groups"])

MAX_COMPARED = 10
IDS = re.compile(r"^ *[0-9]{1,10}(?: *, *[0-9]{1,10}){0,9} *$")


class Incomparable(ValueError):
    """Groups whose objectives differ: their curves measure different things."""


def _spread(values: list[float]) -> dict[str, Any] | None:
    if not values:
        return None
    arr = np.asarray(values, dtype=float)
    std = float(arr.std(ddof=1)) if len(arr) > 1 else 0.0
    return {
        "n": len(arr),
        "mean": float(arr.mean()),
        "std": std,
        "min": float(arr.min()),
        "max": float(arr.max()),
    }


def group_details(session: Session, groups: list[SearchGroup]) -> list[dict[str, Any]]:
    """Every group's members and band; a multi-objective comparison uses one reference for all."""
    objective = objective_of(groups[0].spec)
    if any(objective_of(g.spec).terms != objective.terms for g in groups[1:]):
        raise Incomparable("the groups' objectives differ, so their curves do not compare")
    members = repository.group_members(session, [g.id for g in groups])
    runs = {
        m.id: as_evaluations(repository.evaluations(session, m.id)) for ms in members.values() for m in ms
    }
    order = list(runs)
    reference, rule = None, None
    if objective.multi:
        curves, ref = hypervolume_curves(objective, [runs[i] for i in order])
        if ref is not None:
            reference = [t.natural(float(r)) for t, r in zip(objective.terms, ref, strict=True)]
        scope = "the group's" if len(groups) == 1 else "the compared groups'"
        rule = f"{REFERENCE_RULE}, over every feasible finished candidate of {scope} searches"
        curve_of: dict[int, list[Any]] = dict(zip(order, curves, strict=True))
        kind = "hypervolume"
    else:
        curve_of = {i: best_so_far(runs[i]) for i in order}
        kind = "best_so_far"
    out = []
    for group in groups:
        rows = members[group.id]
        results = [views.search_result(m) or {} for m in rows]
        tests = [r["test_accuracy"] for r in results if r.get("test_accuracy") is not None]
        out.append(
            {
                "id": group.id,
                "name": group.name,
                "spec": group.spec,
                "created_at": views.utc(group.created_at),
                "created_by": group.created_by,
                "curve": kind,
                "objectives": objective.names,
                "goals": [t.goal for t in objective.terms],
                "reference": reference,
                "reference_rule": rule,
                "members": [
                    {
                        "search_id": m.id,
                        "seed": int((m.spec or {}).get("seed", 0)),
                        "status": m.status,
                        "n_evaluations": len(runs[m.id]),
                        "points": [{"evaluation": i, "value": v} for i, v in steps(curve_of[m.id])],
                        "test_accuracy": r.get("test_accuracy"),
                    }
                    for m, r in zip(rows, results, strict=True)
                ],
                "band": [vars(p) for p in band([curve_of[m.id] for m in rows])],
                "test_accuracy": _spread(tests),
            }
        )
    return out


def _invalid(field: str, message: str) -> JSONResponse:
    return JSONResponse({"detail": [FieldError(field=field, message=message).model_dump()]}, status_code=422)


@router.get("", response_model=GroupList)
def list_groups(
    session: ReadSession, limit: Annotated[int, Query(ge=1, le=500)] = 50, offset: Offset = 0
) -> dict[str, Any]:
    """Groups, newest first, with their searches and how many are in each status."""
    groups, total = repository.list_groups(session, limit, offset)
    members = repository.group_members(session, [g.id for g in groups])
    items = []
    for g in groups:
        statuses: dict[str, int] = {}
        for m in members[g.id]:
            statuses[m.status] = statuses.get(m.status, 0) + 1
        items.append(
            {
                "id": g.id,
                "name": g.name,
                "created_at": views.utc(g.created_at),
                "search_ids": [m.id for m in members[g.id]],
                "statuses": statuses,
            }
        )
    return {"items": items, "total": total}


@router.get("/compare", response_model=GroupComparison, responses={**NOT_FOUND, **INVALID})
def compare_groups(
    request: Request,
    session: ReadSession,
    ids: Annotated[
        str,
        Query(
            description=f"2 to {MAX_COMPARED} group ids, comma-separated",
            json_schema_extra={"pattern": IDS.pattern},
        ),
    ],
) -> dict[str, Any] | JSONResponse:
    """Several groups' curves and bands against one reference point, for one chart. Their objectives
    must be the same (422 naming `query.ids` otherwise)."""
    numbers = [int(i) for i in ids.split(",")] if IDS.match(ids) else []
    if not numbers:
        return _invalid("query.ids", f"1 to {MAX_COMPARED} group ids, comma-separated, e.g. 1,2")
    groups = []
    for group_id in dict.fromkeys(numbers):
        if not 1 <= group_id <= MAX_ID:
            raise repository.NotFound(f"group {group_id} not found")
        groups.append(repository.get_group(session, group_id))
    try:
        return {"groups": cached_details(request, session, groups)}
    except Incomparable as exc:
        return _invalid("query.ids", str(exc))


@router.get("/{group_id}", response_model=GroupDetail, responses=NOT_FOUND)
def get_group(group_id: GroupId, request: Request, session: ReadSession) -> dict[str, Any]:
    """One group: each member's curve against evaluations, the band across seeds, and the spread of
    the final test accuracy where final training ran."""
    return cached_details(request, session, [repository.get_group(session, group_id)])[0]


def cached_details(request: Request, session: Session, groups: list[SearchGroup]) -> list[dict[str, Any]]:
    """`group_details`, kept until a member search changes (its change counter moves), joins or leaves."""
    members = repository.group_members(session, [g.id for g in groups])
    version = tuple((m.id, m.created_at, m.next_seq) for g in groups for m in members[g.id])
    subject = tuple(g.id for g in groups)
    cache = request.app.state.group_answers
    return cache.get_or_compute(subject, version, lambda: group_details(session, groups))
