"""Prometheus text exposition of the service's state, computed from the database at scrape time.

Counts come from the database rather than in-process counters so that every API process (and every
replica) reports the same totals however many there are.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from backend.db import repository
from backend.db.models import CANDIDATE_STATUSES, SEARCH_STATUSES
from backend.settings import Settings

# Candidate training durations span seconds (tabular lookups, tiny nets) to hours (full training).
DURATION_BUCKETS = (0.1, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 14400.0)
QUEUES = ("search", "train")


def _gauge(lines: list[str], name: str, help_text: str, values: dict[str, float], label: str) -> None:
    lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
    lines += [f'{name}{{{label}="{key}"}} {value:g}' for key, value in values.items()]


def queue_depths(settings: Settings) -> dict[str, int] | None:
    """Messages waiting per queue on a Redis broker; None when it cannot be known cheaply."""
    if not settings.broker_url.startswith(("redis://", "rediss://")):
        return None
    try:
        import redis

        client = redis.Redis.from_url(settings.broker_url, socket_timeout=0.5)
        try:
            return {q: int(client.llen(q)) for q in QUEUES}
        finally:
            client.close()
    except Exception:
        return None


def render_metrics(session: Session, settings: Settings) -> str:
    lines: list[str] = []
    searches = repository.count_searches_by_status(session)
    _gauge(
        lines,
        "nasboard_searches",
        "Searches by status.",
        {s: searches.get(s, 0) for s in SEARCH_STATUSES},
        "status",
    )
    candidates = repository.count_candidates_by_status(session)
    _gauge(
        lines,
        "nasboard_candidates",
        "Candidates by status.",
        {s: candidates.get(s, 0) for s in CANDIDATE_STATUSES},
        "status",
    )
    depths = queue_depths(settings)
    if depths is not None:
        _gauge(lines, "nasboard_queue_depth", "Messages waiting in the broker queue.", depths, "queue")
    durations = repository.candidate_durations(session)
    name = "nasboard_candidate_duration_seconds"
    lines += [
        f"# HELP {name} Wall time of finished candidates (training or lookup).",
        f"# TYPE {name} histogram",
    ]
    for bound in DURATION_BUCKETS:
        lines.append(f'{name}_bucket{{le="{bound:g}"}} {sum(1 for d in durations if d <= bound)}')
    lines.append(f'{name}_bucket{{le="+Inf"}} {len(durations)}')
    lines.append(f"{name}_sum {sum(durations):.6f}")
    lines.append(f"{name}_count {len(durations)}")
    return "\n".join(lines) + "\n"
