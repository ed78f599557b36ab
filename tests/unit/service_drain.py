"""Drive a stored search through the service's coordinator in this process: the dispatcher queues each
task in order instead of sending it to Celery, and `drain` runs the queue dry (the search has ended)."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from worker import coordinator


class QueueDispatcher:
    """Records dispatched work in FIFO order (`pending`); `log` is what a driver has run of it."""

    def __init__(self) -> None:
        self.pending: deque[tuple[str, int]] = deque()
        self.log: list[tuple[str, int]] = []

    def train(self, candidate_id: int) -> None:
        self.pending.append(("train", candidate_id))

    def advance(self, search_id: int) -> None:
        self.pending.append(("advance", search_id))

    def finalize(self, search_id: int) -> None:
        self.pending.append(("finalize", search_id))


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
    d = QueueDispatcher()
    coordinator.advance_search(search_id, d, settings, kick=True)
    while d.pending:
        kind, ident = d.pending.popleft()
        if kind == "train":
            coordinator.train_candidate(ident, d, make_evaluator, settings)
        elif kind == "advance":
            if cold:
                coordinator._LIVE.clear()
            coordinator.advance_search(ident, d, settings)
        else:
            coordinator.finalize_search(ident, finalizer, settings)
