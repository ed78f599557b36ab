"""Thin Celery tasks taking ids; the logic lives in `worker.coordinator`.

`dispatch_search_start` / `dispatch_control` are what the API calls to hand work to the queue; the API
injects them through a dependency so its tests can use an in-memory double instead.
"""

from __future__ import annotations

import os
import threading

from celery.signals import worker_process_init, worker_ready

from backend.db.session import reset_after_fork
from worker import coordinator, engine_bridge, sweeper
from worker.celery_app import SEARCH_QUEUE, TRAIN_QUEUE, celery_app


class CeleryDispatcher:
    """Sends follow-up work through the broker (tasks never call each other directly)."""

    def train(self, candidate_id: int) -> None:
        train_candidate.apply_async(args=[candidate_id], queue=TRAIN_QUEUE)

    def advance(self, search_id: int) -> None:
        advance_search.apply_async(args=[search_id], queue=SEARCH_QUEUE)

    def finalize(self, search_id: int) -> None:
        finalize_search.apply_async(args=[search_id], queue=TRAIN_QUEUE)

    def start(self, search_id: int) -> None:
        dispatch_search_start(search_id)


DISPATCHER = CeleryDispatcher()
_SWEEP_HERE = threading.Event()  # set by `nasboard worker` when it consumes the `search` queue


def sweep_in_this_worker() -> None:
    """Make this process's Celery worker sweep periodically once it is ready (worker.sweeper)."""
    _SWEEP_HERE.set()


@worker_ready.connect
def _start_sweeper(**_: object) -> None:
    # In the worker's main process, after the pool has forked: its children never inherit the thread.
    if _SWEEP_HERE.is_set():
        sweeper.start_periodic(DISPATCHER)


@worker_process_init.connect
def _init_pool_process(**_: object) -> None:
    # Connections pooled before the fork belong to the parent; sharing them corrupts both sides.
    reset_after_fork()
    # Several training processes share the machine's cores; oversubscribing them slows every one.
    threads = os.environ.get("NASBOARD_TORCH_THREADS")
    if threads:
        import torch

        torch.set_num_threads(int(threads))


# Coordination steps are safe to repeat (each runs under the search's row lock), so transient errors
# (a database restart, a lock timeout) are retried instead of leaving the search without a next step.
@celery_app.task(name="nasboard.advance_search", autoretry_for=(Exception,), max_retries=5, retry_backoff=1)
def advance_search(search_id: int, kick: bool = False) -> dict:
    return coordinator.advance_search(search_id, DISPATCHER, kick=kick)


@celery_app.task(name="nasboard.train_candidate")
def train_candidate(candidate_id: int) -> str:
    try:
        return coordinator.train_candidate(candidate_id, DISPATCHER, engine_bridge.training_evaluator)
    except Exception as exc:
        # Outside the evaluator (storage, broker): record the candidate failed so the search goes on.
        coordinator.fail_candidate(candidate_id, f"worker error: {type(exc).__name__}: {exc}", DISPATCHER)
        raise


@celery_app.task(name="nasboard.finalize_search", autoretry_for=(Exception,), max_retries=3, retry_backoff=5)
def finalize_search(search_id: int) -> str:
    return coordinator.finalize_search(search_id, engine_bridge.final_stage)


def dispatch_search_start(search_id: int) -> None:
    """Start (or resume) a stored search: one coordination step that fills the in-flight slots."""
    advance_search.apply_async(args=[search_id], kwargs={"kick": True}, queue=SEARCH_QUEUE)


def dispatch_control(search_id: int, action: str) -> None:
    """After the API stored cancel / pause / resume: resume needs a step to re-dispatch queued work;
    cancel and pause need none (workers see the status at their next epoch or step)."""
    if action == "resume":
        dispatch_search_start(search_id)
