"""The latest answer of a costly read per subject (a search's importance, its hypervolume curve, a group),
kept under the version of its input, so that viewers polling an unchanged search cost a small version
query instead of the computation.

One computation per subject runs at a time; requests arriving meanwhile wait for it instead of repeating
it. One cache per app (in `app.state`), since ids and versions only mean something within one database.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Any


class AnswerCache:
    def __init__(self, max_entries: int = 256) -> None:
        self.max_entries = max_entries
        self._entries: dict[Hashable, tuple[Hashable, Any]] = {}  # subject -> (version, answer)
        self._lock = threading.Lock()  # endpoints run in a thread pool
        self._computing: dict[Hashable, threading.Lock] = {}
        self.computed = 0  # answers computed (for tests)

    def get(self, subject: Hashable, version: Hashable) -> Any | None:
        hit = self._entries.get(subject)
        return hit[1] if hit is not None and hit[0] == version else None

    def get_or_compute(self, subject: Hashable, version: Hashable, compute: Callable[[], Any]) -> Any:
        with self._lock:
            computing = self._computing.setdefault(subject, threading.Lock())
        with computing:
            answer = self.get(subject, version)
            if answer is None:
                answer = compute()
                self.computed += 1
                with self._lock:
                    if len(self._entries) >= self.max_entries:
                        self._entries.clear()
                    self._entries[subject] = (version, answer)
        return answer
