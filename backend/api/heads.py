"""Shared "has this search changed?" reads for the SSE streams of one API process.

Embedded (no Redis), every open stream polls every 100 ms. Reading the search's change counter once per
interval for all streams of a search, instead of a full change read per stream, makes ten open dashboards
cost about what one does. A stream woken by a Redis message asks for a fresh value instead.
"""

from __future__ import annotations

import asyncio
import time

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

    async def head(self, search_id: int, fresh: bool = False) -> int:
        """The search's change counter, read at most once per `max_age` unless `fresh`."""
        lock = self._locks.setdefault(search_id, asyncio.Lock())
        async with lock:  # concurrent askers share the one read in flight
            cached = self._values.get(search_id)
            if cached is not None and not fresh and time.monotonic() - cached[0] < self.max_age:
                return cached[1]
            started = time.monotonic()
            value = await anyio.to_thread.run_sync(self._read, search_id)
            self.reads += 1
            self._values[search_id] = (started, value)  # stamped when the read began, not when it ended
            return value

    def _read(self, search_id: int) -> int:
        with session_factory(self.settings)() as session:
            return repository.search_head(session, search_id)
