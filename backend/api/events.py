"""Server-Sent Events: a live stream of one search's candidate and status changes.

Each event carries `id: <seq>` (the change cursor), so a client that reconnects with `Last-Event-ID`
(browsers do it by themselves) gets exactly what it missed. New changes are found by reading the database
past the cursor; what triggers a read is a Redis pub/sub wake-up when the service has Redis, else a short
poll. The database stays the source of truth either way, so a lost wake-up only delays an event until the
next poll, never drops it.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Header, HTTPException, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import StreamingResponse

from backend.api import views
from backend.api.heads import ChangeReads, SearchHeads
from backend.api.params import MAX_CURSOR, SearchId
from backend.api.params import last_event_id as last_event_id_cursor
from backend.api.schemas import INVALID, NOT_FOUND, Message
from backend.api.summary_cache import SummaryCache
from backend.db import repository
from backend.db.session import session_factory
from backend.events import ChangeHub
from backend.settings import Settings

router = APIRouter(prefix="/api/searches", tags=["events"])

HEARTBEAT_SECONDS = 15.0
# With Redis wake-ups, read anyway this often in case a message was lost; embedded, the listener polls
# every backend.events.POLL_INTERVAL_S (100 ms) whatever this says.
SAFETY_POLL_SECONDS = 2.0
PAGE = 500


def format_event(event: str, seq: int, data: Any) -> str:
    body = json.dumps(jsonable_encoder(data), separators=(",", ":"))
    return f"id: {seq}\nevent: {event}\ndata: {body}\n\n"


def read_changes(
    settings: Settings, summaries: SummaryCache, search_id: int, cursor: int
) -> tuple[list[str], int]:
    """Events past the cursor, in cursor order, and the new cursor (runs in a worker thread)."""
    with session_factory(settings)() as session:
        changes = repository.changes_since(session, search_id, cursor, limit=PAGE)
        search = changes["search"]  # None when only candidates changed
        out: list[tuple[int, str]] = []
        if changes["candidates"]:
            space = views.space_for(repository.get_search(session, search_id).spec)
        for cand in changes["candidates"]:
            summary = views.candidate_summary(cand, space)
            out.append((cand.seq, format_event("candidate", cand.seq, summary)))
        if search is not None:
            detail = views.search_detail(search, summaries.summary(session, search))
            detail.pop("spec", None)
            out.append((search.seq, format_event("search", search.seq, detail)))
    out.sort(key=lambda pair: pair[0])
    return [text for _, text in out], int(changes["next"])


async def event_stream(
    request: Request, settings: Settings, search_id: int, cursor: int
) -> AsyncIterator[str]:
    heads: SearchHeads = request.app.state.search_heads
    reads: ChangeReads = request.app.state.change_reads
    hub: ChangeHub = request.app.state.change_hub
    last_sent, seen_head, woken_at = time.monotonic(), None, None
    yield "retry: 1000\n\n"  # reconnect quickly; the cursor makes a reconnect lossless
    async with hub.listen(search_id) as listener:
        while not await request.is_disconnected():
            # The counter moves with every change, so an unchanged one means nothing to read. It is read
            # before the changes: a commit landing in between moves it again and is read next round.
            head = await heads.head(search_id, since=woken_at)
            events: list[str] = []
            if head != seen_head:
                events, cursor = await reads.changes(search_id, cursor, head)
                if len(events) < PAGE:
                    seen_head = head
            for text in events:
                yield text
            if events:
                last_sent = time.monotonic()
                if len(events) >= PAGE:
                    continue  # a backlog: keep draining before waiting
            elif time.monotonic() - last_sent >= HEARTBEAT_SECONDS:
                yield ": heartbeat\n\n"
                last_sent = time.monotonic()
            woken = await listener.wait(min(HEARTBEAT_SECONDS, SAFETY_POLL_SECONDS)) and listener.pubsub
            woken_at = time.monotonic() if woken else None


class StreamSlots:
    """Open event streams of this API process, per client address and in all: each holds a connection
    and a task for as long as the client stays, so neither one client nor all of them may open unbounded
    numbers (NASBOARD_MAX_STREAMS_PER_CLIENT, NASBOARD_MAX_STREAMS)."""

    def __init__(self, settings: Settings) -> None:
        self.per_client, self.total = settings.max_streams_per_client, settings.max_streams
        self.open: dict[str, int] = {}

    def take(self, client: str) -> None:
        if self.open.get(client, 0) >= self.per_client:
            raise HTTPException(
                429,
                f"too many open event streams from {client}: max_streams_per_client is {self.per_client}"
                " (NASBOARD_MAX_STREAMS_PER_CLIENT); close some, or poll /candidates?after=",
            )
        if sum(self.open.values()) >= self.total:
            raise HTTPException(
                429, f"too many open event streams: max_streams is {self.total} (NASBOARD_MAX_STREAMS)"
            )
        self.open[client] = self.open.get(client, 0) + 1

    def give_back(self, client: str) -> None:
        left = self.open.get(client, 1) - 1
        if left > 0:
            self.open[client] = left
        else:
            self.open.pop(client, None)


class _SlotStream(StreamingResponse):
    """Gives its stream slot back however the response ends (also when the client left before it began)."""

    def __init__(self, slots: StreamSlots, client: str, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.slots, self.client = slots, client

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.slots.give_back(self.client)


TOO_MANY = {429: {"model": Message, "description": "too many open event streams (per client or in all)"}}


@router.get(
    "/{search_id}/events",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "candidate and search events"},
        **NOT_FOUND,
        **INVALID,
        **TOO_MANY,
    },
)
async def search_events(
    search_id: SearchId,
    request: Request,
    after: Annotated[
        int | None, Query(ge=0, le=MAX_CURSOR, description="start after this cursor (default 0: all)")
    ] = None,
    last_event_id: Annotated[
        str | None, Header(description="resume cursor; one that is not a cursor is ignored")
    ] = None,
) -> StreamingResponse:
    """`candidate` events (data: a candidate summary) and `search` events (data: the search's detail
    without its spec), each with `id: <seq>`. Resume with the `Last-Event-ID` header or `?after=`."""
    settings: Settings = request.app.state.settings

    def check() -> None:
        with session_factory(settings)() as session:
            search = repository.get_search(session, search_id)  # 404 before the stream starts
            # Load the space plugin now, not when the first result is waiting to be sent.
            views.space_for(search.spec)

    await anyio.to_thread.run_sync(check)
    resumed = last_event_id_cursor(last_event_id)
    cursor = resumed if resumed is not None else after or 0
    slots: StreamSlots = request.app.state.stream_slots
    client = request.client.host if request.client else "unknown"
    slots.take(client)  # no await between the check and the count: one event loop, no race
    return _SlotStream(
        slots,
        client,
        event_stream(request, settings, search_id, cursor),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
