"""Worker timeline arithmetic: how long each worker was busy or idle, and how long candidates waited.

Kept free of the database and of FastAPI so the arithmetic is tested on plain values.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Span:
    """One candidate's current training attempt on one worker."""

    worker: str
    start: datetime
    end: datetime  # finished_at, or "now" while it still trains


def _merged_seconds(spans: Sequence[Span]) -> float:
    """Length of the union of the spans: two jobs at once on one worker name (a pool that reuses a
    name, or a lost attempt's end overlapping its successor) must not count the time twice."""
    total, cur_start, cur_end = 0.0, None, None
    for span in sorted(spans, key=lambda sp: sp.start):
        if cur_end is None or span.start > cur_end:
            if cur_start is not None and cur_end is not None:
                total += (cur_end - cur_start).total_seconds()
            cur_start, cur_end = span.start, span.end
        elif span.end > cur_end:
            cur_end = span.end
    if cur_start is not None and cur_end is not None:
        total += (cur_end - cur_start).total_seconds()
    return total


def worker_summary(spans: Iterable[Span]) -> list[dict[str, Any]]:
    """Per worker: busy seconds (time with at least one job), idle seconds (the gaps between its first
    start and its last end) and how many candidates it ran. Idle is measured inside the worker's own
    window, so a worker that joined late is not counted idle for the time before it existed."""
    by_worker: dict[str, list[Span]] = defaultdict(list)
    for span in spans:
        by_worker[span.worker].append(span)
    out = []
    for worker in sorted(by_worker):
        own = by_worker[worker]
        window = (max(sp.end for sp in own) - min(sp.start for sp in own)).total_seconds()
        busy = _merged_seconds(own)
        out.append(
            {
                "worker": worker,
                "busy_seconds": busy,
                "idle_seconds": max(0.0, window - busy),
                "candidates": len(own),
            }
        )
    return out


def queue_wait(waits: Sequence[float]) -> dict[str, Any]:
    """Median and maximum of the queue waits (seconds), and how many there were."""
    if not waits:
        return {"median_seconds": None, "max_seconds": None, "n": 0}
    return {"median_seconds": statistics.median(waits), "max_seconds": max(waits), "n": len(waits)}
