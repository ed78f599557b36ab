"""Drive a stored search through the service's coordinator in this process: the dispatcher queues each
task in order instead of sending it to Celery, and `drain` runs the queue dry (the search has ended)."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from worker import coordinator


class FifoDispatcher:
    """What the coordinator dispatches, queued in order as (kind, id)."""

    def __init__(self) -> None:
        self.work: deque[tuple[str, int]] = deque()

    def train(self, cid: int) -> None:
        self.work.append(("train", cid))

    def advance(self, sid: int) -> None:
        self.work.append(("advance", sid))

    def finalize(self, sid: int) -> None:
        self.work.append(("finalize", sid))


def drain(
    search_id: int,
    settings: Any,
    make_evaluator: Callable[..., Any],
    finalizer: Callable[..., Any] = lambda *a: ({}, {}),
    *,
    cold: bool = False,
) -> None:
    """Kick the search and run every task it leads to. `cold`: each step starts with no live lifecycle,
    as in a fresh process (the lifecycle is replayed from the table)."""
    d = FifoDispatcher()
    coordinator.advance_search(search_id, d, settings, kick=True)
    while d.work:
        kind, ident = d.work.popleft()
        if kind == "train":
            coordinator.train_candidate(ident, d, make_evaluator, settings)
        elif kind == "advance":
            if cold:
                coordinator._LIVE.clear()
            coordinator.advance_search(ident, d, settings)
        else:
            coordinator.finalize_search(ident, finalizer, settings)
