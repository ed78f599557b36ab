"""The sweeper: work whose worker was lost goes back to the queue.

- A training candidate whose lease ran out (its worker was killed, its machine vanished) is requeued and
  dispatched again, through the same dispatcher the coordinator uses. Its job is computed afresh when it
  starts, so a promotion resumes from its previous rung's checkpoint in the artefact store.
- A running search with no candidate training and nothing changed for a lease period lost its next step
  (the coordinator died holding it, or the broker lost the message): it gets a start step again, which
  also re-dispatches candidates left queued.
- A search whose final stage's lease ran out (the worker retraining its best died, or the message was
  lost) gets its final task again; the final training starts over.

A sweep only acts on what stayed silent for a whole lease, and every change it makes is re-checked under
the search's lock, so sweeping twice, or from several processes at once, does no harm.

Where it runs: once when `nasboard up` / `nasboard worker` start (what a crash left behind), and on a
thread of every `search`-queue worker (`start_periodic`, from a worker_ready signal in worker.tasks).
A thread rather than Celery beat, which the embedded mode does not run, and rather than a task that
reschedules itself, whose chain a broker outage would break.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from backend.db import repository as repo
from backend.db.models import utcnow
from backend.db.session import session_scope
from backend.events import publish_change
from backend.settings import Settings, get_settings

log = logging.getLogger(__name__)


class SweepDispatcher(Protocol):
    def train(self, candidate_id: int) -> None: ...

    def start(self, search_id: int) -> None:
        """A start step (`advance_search` with kick): also re-dispatches candidates left queued."""

    def finalize(self, search_id: int) -> None:
        """The final stage's task (`finalize_search`)."""


class TaskNameDispatcher:
    """Publishes the sweeper's work by task name (routed by the app's task_routes), for processes that do
    not import the tasks module and its engine."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def train(self, candidate_id: int) -> None:
        self.app.send_task("nasboard.train_candidate", args=[candidate_id])

    def start(self, search_id: int) -> None:
        self.app.send_task("nasboard.advance_search", args=[search_id], kwargs={"kick": True})

    def finalize(self, search_id: int) -> None:
        self.app.send_task("nasboard.finalize_search", args=[search_id])


@dataclass
class Swept:
    requeued: list[int] = field(default_factory=list)
    cancelled: list[int] = field(default_factory=list)
    readvanced: list[int] = field(default_factory=list)
    refinalized: list[int] = field(default_factory=list)


def sweep(
    dispatcher: SweepDispatcher, settings: Settings | None = None, now: datetime | None = None
) -> Swept:
    """One sweep (see the module's doc); `now` lets tests look into the future instead of waiting."""
    settings = settings or get_settings()
    now = now or utcnow()
    swept, touched = Swept(), set()
    with session_scope(settings) as s:
        expired = repo.expired_leases(s, now)
    for candidate_id, attempt in expired:
        with session_scope(settings, write=True) as s:
            requeued = repo.requeue_expired(s, candidate_id, attempt, now)
        if requeued is None:
            continue  # renewed meanwhile, or another sweeper got there first
        search_id, search_status = requeued
        touched.add(search_id)
        publish_change(settings, search_id, None)
        if search_status in ("running", "queued"):
            log.warning("candidate %s lost its lease (attempt %s): requeued", candidate_id, attempt)
            swept.requeued.append(candidate_id)
            dispatcher.train(candidate_id)
        elif search_status == "paused":
            swept.requeued.append(candidate_id)  # resume re-dispatches it
        else:
            swept.cancelled.append(candidate_id)
    with session_scope(settings) as s:
        stalled = repo.stalled_searches(s, now - timedelta(seconds=settings.lease_seconds))
    for search_id in stalled:
        if search_id in touched:
            continue  # its requeued candidate is its work in flight
        log.warning("search %s has nothing in flight and no step for a lease period: advancing it", search_id)
        swept.readvanced.append(search_id)
        dispatcher.start(search_id)
    with session_scope(settings) as s:
        lost = repo.lost_finals(s, now)
    for search_id in lost:
        with session_scope(settings, write=True) as s:
            again = repo.retry_final(s, search_id, now, settings.lease_seconds)
        if again:  # re-checked under the lock: one sweeper dispatches it, once per lease
            log.warning("search %s lost its final stage (lease ran out): dispatching it again", search_id)
            swept.refinalized.append(search_id)
            dispatcher.finalize(search_id)
    return swept


def sweep_interval(settings: Settings) -> float:
    """Often enough that a lost candidate waits at most about 1.5 leases; at least every 30 s."""
    return max(0.5, min(30.0, settings.lease_seconds / 2))


def start_periodic(dispatcher: SweepDispatcher, settings: Settings | None = None) -> threading.Event:
    """Sweep on a daemon thread until the returned event is set."""
    settings = settings or get_settings()
    stop = threading.Event()

    def run() -> None:
        while not stop.wait(sweep_interval(settings)):
            try:
                sweep(dispatcher, settings)
            except Exception:  # the database or broker away for a moment: the next sweep tries again
                log.warning("sweep failed", exc_info=True)

    threading.Thread(target=run, name="nasboard-sweeper", daemon=True).start()
    return stop
