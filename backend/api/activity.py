"""What the workers did for a search: a timeline of its candidates per worker, and failures by reason."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from sqlalchemy.orm import Session

from backend.api import views
from backend.api.deps import run_read
from backend.api.failures import group_failures
from backend.api.params import SearchId
from backend.api.schemas import INVALID, NOT_FOUND, Failures, Timeline
from backend.api.timeline import Span, queue_wait, worker_summary
from backend.db import repository
from backend.db.models import utcnow

router = APIRouter(prefix="/api/searches", tags=["searches"])

# A bound on rows read per request: a 10,000-candidate search answers from its latest 5,000.
MAX_ROWS = 5000


def _seconds(a: datetime, b: datetime) -> float:
    return max(0.0, (b - a).total_seconds())


def timeline_answer(
    rows: list[Any], space: Any | None, now: datetime, limit: int, truncated: bool
) -> dict[str, Any]:
    """The `Timeline` document for rows from `repository.started_rows`."""
    items, spans, waits = [], [], []
    for r in rows:
        queued, started, finished = views.utc(r.created_at), views.utc(r.started_at), views.utc(r.finished_at)
        if started is None:  # the query selects started rows only; this keeps the types honest
            continue
        items.append(
            {
                "candidate_id": r.id,
                "label": views.row_label(space, r.canonical, r.genome_json),
                "worker": r.worker,
                "status": r.status,
                "attempt": int(r.attempt or 0),
                "queued_at": queued,
                "started_at": started,
                "finished_at": finished,
            }
        )
        spans.append(Span(r.worker, started, max(started, finished or now)))
        # A later attempt's start follows a requeue whose time is not kept: only first attempts have
        # a known wait (created_at is when they were queued).
        if queued is not None and int(r.attempt or 0) <= 1:
            waits.append(_seconds(queued, started))
    return {
        "items": items,
        "workers": worker_summary(spans),
        "queue_wait": queue_wait(waits),
        "now": now,
        "limit": limit,
        "truncated": truncated,
    }


@router.get("/{search_id}/timeline", response_model=Timeline, responses={**NOT_FOUND, **INVALID})
async def timeline(
    search_id: SearchId,
    request: Request,
    limit: Annotated[int, Query(ge=1, le=MAX_ROWS, description="most candidates to return")] = MAX_ROWS,
) -> dict[str, Any]:
    """Each started candidate's latest attempt (worker, queued, started, finished), busy and idle time
    per worker, and the queue wait; from the `limit` latest started candidates."""

    def read(session: Session) -> dict[str, Any]:
        search = repository.get_search(session, search_id)
        rows, truncated = repository.started_rows(session, search_id, limit)
        return timeline_answer(rows, views.space_for(search.spec), utcnow(), limit, truncated)

    return await run_read(request, read)


@router.get("/{search_id}/failures", response_model=Failures, responses={**NOT_FOUND, **INVALID})
async def failures(
    search_id: SearchId,
    request: Request,
    limit: Annotated[int, Query(ge=1, le=MAX_ROWS, description="most failed candidates to read")] = MAX_ROWS,
) -> dict[str, Any]:
    """Failed candidates grouped by reason (their errors with numbers and ids ignored), largest first."""

    def read(session: Session) -> dict[str, Any]:
        failed, truncated = repository.failed_errors(session, search_id, limit)
        return {
            "groups": group_failures(failed),
            "n_failed": len(failed),
            "limit": limit,
            "truncated": truncated,
        }

    return await run_read(request, read)
