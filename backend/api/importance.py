"""Decision importance of a search: which design decisions explain the fitness (worker/nas/importance.py).

Fitting the forest takes about a second for 2,000 candidates, and the search page asks every several
seconds per viewer, so answers are cached per app under the search's scored-candidate version (count and
last change): a poll between two finished candidates costs one small count query. One computation per
search runs at a time; pollers arriving meanwhile wait for it instead of fitting the same forest again.
"""

from __future__ import annotations

from typing import Any

import anyio
from fastapi import APIRouter, Request
from sqlalchemy.orm import Session

from backend.api import views
from backend.api.answer_cache import AnswerCache
from backend.api.deps import run_read
from backend.api.params import SearchId
from backend.api.schemas import INVALID, NOT_FOUND, Importance
from backend.db import repository
from backend.db.session import session_factory

router = APIRouter(prefix="/api/searches", tags=["searches"])

# Bounds the forest's cost (roughly linear in candidates) on 10,000-candidate searches; the sample is
# evenly spread over creation order, so it still covers the whole search.
MAX_CANDIDATES = 2000

Key = tuple[int, int, int]  # search id, scored candidates, their last seq


Scored = list[tuple[dict[str, Any], float]]


def compute_importance(spec: dict[str, Any], scored: Scored, n: int) -> dict[str, Any]:
    """The response for a search's scored candidates (engine imported here: scikit-learn is heavy)."""
    from worker.nas.importance import (
        METHOD,
        NotEnoughData,
        UnsupportedSpace,
        decision_importance,
        importance_method,
    )

    space = views.space_for(spec)
    how = importance_method(space) if space is not None else METHOD
    method = f"{how}; from at most {MAX_CANDIDATES:,} done candidates, evenly spaced by creation order"
    answer: dict[str, Any] = {"items": [], "n_candidates": len(scored), "n_finished": n, "method": method}
    if space is None:
        return {**answer, "reason": "the search's space plugin cannot be loaded by this server"}
    try:
        items = decision_importance(space, scored)
    except (UnsupportedSpace, NotEnoughData) as exc:
        return {**answer, "reason": str(exc)}
    return {**answer, "items": [item.as_dict() for item in items], "reason": None}


@router.get("/{search_id}/importance", response_model=Importance, responses={**NOT_FOUND, **INVALID})
async def importance(search_id: SearchId, request: Request) -> dict[str, Any]:
    """Which design decisions explain the fitness: a random forest on the finished candidates' decisions,
    decomposed fANOVA-style into each decision's share of the variance, with its best and worst choice.
    Uses at most 2,000 candidates (evenly spaced by creation order); fewer than 10 give no items and a
    `reason`."""
    cache: AnswerCache = request.app.state.importances

    def version(session: Session) -> tuple[Key, dict[str, Any]]:
        spec = repository.get_search(session, search_id).spec
        return (search_id, *repository.scored_version(session, search_id)), spec

    key, spec = await run_read(request, version)
    cached = cache.get(search_id, key)
    if cached is not None:
        return cached

    def compute() -> dict[str, Any]:
        # Read inside the computation lock, so waiting pollers do not each load 2,000 genomes first.
        with session_factory(request.app.state.settings)() as session:
            scored = repository.scored_sample(session, search_id, MAX_CANDIDATES)
        return compute_importance(spec, scored, key[1])

    # The forest runs outside any database session: a second of CPU must not hold a connection.
    return await anyio.to_thread.run_sync(cache.get_or_compute, search_id, key, compute)
