"""Shared "has this search changed?" reads for the SSE streams of one API process.

Embedded (no Redis), every open stream polls every 100 ms. Reading the search's change counter once per
interval for all streams of a search, instead of a full change read per stream, makes ten open dashboards
cost about what one does. A stream woken by a Redis message asks for a value read after its wake-up.
`ChangeReads` shares the change read itself: streams at the same cursor after the same head get one read.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import anyio

from backend.db import repository
from backend.db.session import session_factory
from backend.settings import Settings


class SearchHeads:
    def __init__(self, settings: Settings, max_age: float = 0.1) -> None:
        self.settings, self.max_age = settings, max_age
        self._values: dict[int, tuple[float, int]] = {}
        self._locks: dict[int, asyncio.Lock] = {}
        self.reads = 0  # database reads made (for tests and curiosity)

    async def head(self, search_id: int, since: float | None = None) -> int:
        """The search's change counter, read at most once per `max_age`; with `since` (a monotonic time, a
        stream's Redis wake-up), from a read that began after it: streams woken together share one."""
        lock = self._locks.setdefault(search_id, asyncio.Lock())
        async with lock:  # concurrent askers share the one read in flight
            cached = self._values.get(search_id)
            if cached is not None:
                if since is not None and cached[0] >= since:
                    return cached[1]
                if since is None and time.monotonic() - cached[0] < self.max_age:
                    return cached[1]
            started = time.monotonic()
            value = await anyio.to_thread.run_sync(self._read, search_id)
            self.reads += 1
            self._values[search_id] = (started, value)  # stamped when the read began, not when it ended
            return value

    def _read(self, search_id: int) -> int:
        with session_factory(self.settings)() as session:
            return repository.search_head(session, search_id)


class ChangeReads:
    """One read of a search's changes per (search, cursor, head) in this process, shared by every stream
    that needs it: ten dashboards at the head of one search cost one read per change, not ten. What a
    shared read returns is what each stream's own read would have (the cursor and head are the same)."""

    def __init__(self, read: Callable[[int, int], Any], size: int = 256) -> None:
        self.read, self.size = read, size
        self._reads: OrderedDict[tuple[int, int, int], asyncio.Future[Any]] = OrderedDict()
        self.made = 0  # database reads made (for tests)

    async def changes(self, search_id: int, cursor: int, head: int) -> Any:
        key = (search_id, cursor, head)
        shared = self._reads.get(key)
        if shared is None:
            self.made += 1
            shared = asyncio.ensure_future(anyio.to_thread.run_sync(self.read, search_id, cursor))
            shared.add_done_callback(lambda f: self._forget_failed(key, f))
            self._reads[key] = shared
            while len(self._reads) > self.size:
                self._reads.popitem(last=False)
        # shielded: a stream whose client leaves must not cancel the read the others wait for
        return await asyncio.shield(shared)

    def _forget_failed(self, key: tuple[int, int, int], done: asyncio.Future[Any]) -> None:
        if done.cancelled() or done.exception() is not None:
            self._reads.pop(key, None)  # the next stream that asks reads again
