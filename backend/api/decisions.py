"""The design decisions of a search's done candidates, one column per decision, for the search page's
parallel coordinates. The space names and reads them (`decision_features`, as decision importance does),
so the page never parses genomes. Each column is sent as its choices and one code per candidate:
10,000 candidates × 8 decisions stay about 100 KB."""

from __future__ import annotations

from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Query, Request
from sqlalchemy.orm import Session

from backend.api import views
from backend.api.deps import run_read
from backend.api.params import SearchId
from backend.api.schemas import INVALID, NOT_FOUND, Decisions
from backend.db import repository

router = APIRouter(prefix="/api/searches", tags=["searches"])

MAX_DECISIONS = 12


def _order(choice: Any) -> tuple[int, Any]:
    """Absent first, then numbers by value, then everything else by its text."""
    if choice is None:
        return (0, 0)
    if isinstance(choice, int | float) and not isinstance(choice, bool):
        return (1, choice)
    return (2, str(choice))


def decision_columns(
    space: Any, rows: list[tuple[int, dict[str, Any]]], names: list[str], limit: int
) -> dict[str, Any]:
    features = [space.decision_features(genome) for _, genome in rows]
    if not names:  # the space's own order, keeping the decisions that vary or apply to only some
        values: dict[str, set[str]] = {}
        counts: dict[str, int] = {}
        for f in features:
            for name, value in f.items():
                values.setdefault(name, set()).add(repr(value))
                counts[name] = counts.get(name, 0) + 1
        names = [n for n in values if len(values[n]) > 1 or counts[n] < len(features)]
    else:  # the names asked for that apply to some candidate
        names = [n for n in names if any(n in f for f in features)]
    columns = []
    for name in names[:limit]:
        column = [f.get(name) for f in features]
        choices = sorted(set(column), key=_order)
        index = {v: i for i, v in enumerate(choices)}
        columns.append({"name": name, "choices": choices, "codes": [index[v] for v in column]})
    return {"ids": [cid for cid, _ in rows], "decisions": columns, "reason": None}


@router.get("/{search_id}/decisions", response_model=Decisions, responses={**NOT_FOUND, **INVALID})
async def decisions(
    search_id: SearchId,
    request: Request,
    names: Annotated[
        str | None,
        Query(description="comma-separated decision names to send, in this order (default: those that vary)"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_DECISIONS)] = 8,
) -> dict[str, Any]:
    """Each done candidate's design decisions, as named by the space (e.g. `edge 0→1`), for parallel
    coordinates: `ids` the candidates, each decision its sorted `choices` and one `codes` entry per id
    (`null` among the choices: the decision does not apply to that candidate)."""
    wanted = [n.strip() for n in (names or "").split(",") if n.strip()]

    def read(session: Session) -> tuple[dict[str, Any], list[tuple[int, dict[str, Any]]]]:
        return repository.get_search(session, search_id).spec, repository.scored_genomes(session, search_id)

    spec, rows = await run_read(request, read)
    space = views.space_for(spec)
    if space is None:
        return {
            "ids": [],
            "decisions": [],
            "reason": "the search's space plugin cannot be loaded by this server",
        }
    try:  # outside the session: naming 10,000 genomes' decisions must not hold a connection
        return await anyio.to_thread.run_sync(decision_columns, space, rows, wanted, limit)
    except NotImplementedError as exc:
        return {"ids": [], "decisions": [], "reason": str(exc)}
