"""A micro-cache of search summaries, for pollers hammering GET /api/searches/{id}.

A summary counts the search's candidates (a scan of its rows): with 10,000 candidates that is most of
the request. Every change to a search or its candidates bumps the search's `next_seq`, so a summary
cached under (id, next_seq) has exact counts and best for as long as that key is current; only the
clock-derived fields (elapsed, ETA of a running search) age, which the short TTL bounds. One cache per
app (in `app.state`), since ids and counters only mean something within one database.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from sqlalchemy.orm import Session

from backend.db import repository
from backend.db.models import Search


class SummaryCache:
    def __init__(self, ttl_seconds: float = 0.5, max_entries: int = 1024) -> None:
        self.ttl, self.max_entries = ttl_seconds, max_entries
        self._entries: dict[tuple[int, int], tuple[float, dict[str, Any]]] = {}
        self._lock = threading.Lock()  # endpoints run in a thread pool
        self._computing: dict[int, threading.Lock] = {}
        self.computed = 0  # summaries read from the database (for tests and curiosity)

    def _fresh(self, key: tuple[int, int]) -> dict[str, Any] | None:
        hit = self._entries.get(key)
        return hit[1] if hit is not None and time.monotonic() - hit[0] < self.ttl else None

    def summary(self, session: Session, search: Search) -> dict[str, Any]:
        key = (search.id, search.next_seq)
        cached = self._fresh(key)
        if cached is not None:
            return cached
        # One computation per search at a time: every poll arriving while the counts are being read
        # (they change with each finished candidate) would otherwise run the same scan again.
        with self._lock:
            computing = self._computing.setdefault(search.id, threading.Lock())
        with computing:
            cached = self._fresh(key)
            if cached is not None:
                return cached
            started = time.monotonic()
            summary = repository.search_summary(session, search.id)
            self.computed += 1
            with self._lock:
                if len(self._entries) >= self.max_entries:
                    self._entries.clear()
                    self._computing.clear()
                self._entries[key] = (started, summary)
        return summary
