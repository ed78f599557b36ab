"""Training leases and the sweeper (issue 17), on SQLite with an in-memory dispatcher: no broker, no torch.

A lease running out is simulated by sweeping at a `now` past it, never by sleeping; the one test that needs
a real heartbeat polls the database with a deadline.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from service_drain import QueueDispatcher
from test_coordinator import ToyEvaluator, drain, toy_finalizer

from backend.db import repository as repo
from backend.db.migrate import upgrade_to_head
from backend.db.models import Candidate, utcnow
from backend.db.session import session_scope
from backend.settings import Settings
from worker import coordinator, sweeper
from worker.nas.types import Result

LEASE = 30.0


class SweepQueue(QueueDispatcher):
    """The coordinator's dispatcher double, plus the start step the sweeper sends to a stalled search."""

    def start(self, search_id: int) -> None:
        self.pending.append(("start", search_id))


@pytest.fixture()
def settings(tmp_path: Any) -> Iterator[Settings]:
    s = Settings(data_dir=tmp_path, broker_url="memory://", lease_seconds=LEASE)
    upgrade_to_head(s)
    yield s


def _submit(settings: Settings, **overrides: Any) -> int:
    spec = {
        "name": "toy",
        "space": {"type": "nb201"},
        "strategy": {"type": "random"},
        "budget": {"max_candidates": 2},
        "parallelism": 1,
        **overrides,
    }
    with session_scope(settings, write=True) as s:
        return repo.create_search(s, spec, "toy").id


def _start_and_lose_holder(settings: Settings, d: SweepQueue) -> tuple[int, int]:
    """A search whose first candidate started training on a worker that then died (it holds a lease)."""
    search_id = _submit(settings)
    coordinator.advance_search(search_id, d, settings, kick=True)
    kind, cid = d.pending.popleft()
    assert kind == "train"
    with session_scope(settings, write=True) as s:
        assert repo.take_lease(s, cid, "lost-host:1:2", LEASE) == 1
        repo.add_curve_point(s, cid, 1, {"val_accuracy": 0.1})
    return search_id, cid


def _after_lease() -> Any:
    return utcnow() + timedelta(seconds=LEASE + 1)


def _candidates(settings: Settings, search_id: int) -> list[Candidate]:
    with session_scope(settings) as s:
        return repo.candidates_after(s, search_id, 0, 100)[0]


def test_expired_lease_is_requeued_once_and_the_search_completes_without_duplicates(
    settings: Settings,
) -> None:
    d = SweepQueue()
    search_id, cid = _start_and_lose_holder(settings, d)

    first = sweeper.sweep(d, settings, now=_after_lease())
    second = sweeper.sweep(d, settings, now=_after_lease())

    assert first.requeued == [cid] and second.requeued == []
    assert list(d.pending) == [("train", cid)]
    with session_scope(settings) as s:
        cand = repo.get_candidate(s, cid)
        assert cand.status == "queued" and cand.lease_expires_at is None
    drain(d, settings)
    cands = _candidates(settings, search_id)
    assert len(cands) == 2 and len({c.canonical for c in cands}) == 2
    assert {c.status for c in cands} <= {"done", "failed"}
    assert next(c for c in cands if c.id == cid).attempt == 2
    with session_scope(settings) as s:
        assert repo.get_search(s, search_id).status == "completed"


def test_live_lease_is_left_alone(settings: Settings) -> None:
    d = SweepQueue()
    search_id, cid = _start_and_lose_holder(settings, d)

    swept = sweeper.sweep(d, settings, now=utcnow() + timedelta(seconds=LEASE - 5))

    assert swept.requeued == [] and swept.readvanced == [] and not d.pending
    with session_scope(settings) as s:
        assert repo.get_candidate(s, cid).status == "training"


def test_duplicate_train_message_does_not_take_a_live_lease(settings: Settings) -> None:
    d = SweepQueue()
    _, cid = _start_and_lose_holder(settings, d)

    assert coordinator.train_candidate(cid, d, ToyEvaluator, settings) == "held-elsewhere"
    with session_scope(settings) as s:
        cand = repo.get_candidate(s, cid)
        assert (cand.status, cand.attempt, cand.worker) == ("training", 1, "lost-host:1:2")


def test_report_of_an_attempt_that_lost_its_lease_is_refused(settings: Settings) -> None:
    d = SweepQueue()
    search_id, cid = _start_and_lose_holder(settings, d)
    sweeper.sweep(d, settings, now=_after_lease())
    with session_scope(settings, write=True) as s:
        assert repo.take_lease(s, cid, "new-host:1:2", LEASE) == 2

    with session_scope(settings, write=True) as s:
        assert repo.report_epoch(s, cid, 1, 5, {"val_accuracy": 0.9}, LEASE) is False
        assert repo.renew_lease(s, cid, 1, LEASE) is False
        assert repo.finish_candidate(s, cid, "done", fitness=0.9, attempt=1) is None
    with session_scope(settings) as s:
        cand = repo.get_candidate(s, cid)
        assert (cand.status, cand.attempt, cand.fitness) == ("training", 2, None)
        # The dead attempt's point (epoch 1) stays until the new attempt reports where it continues from.
        assert [p["epoch"] for p in repo.candidate_curve(s, cid)] == [1]

    with session_scope(settings, write=True) as s:
        assert repo.report_epoch(s, cid, 2, 1, {"val_accuracy": 0.5}, LEASE, first=True) is True
        assert repo.finish_candidate(s, cid, "done", fitness=0.5, attempt=2) is not None
    with session_scope(settings) as s:
        assert repo.candidate_curve(s, cid) == [{"epoch": 1, "val_accuracy": 0.5}]  # the new attempt's


def test_job_that_loses_its_lease_while_training_stops_and_triggers_nothing(settings: Settings) -> None:
    class SweptMidway:
        """Its lease 'runs out' after epoch 1 (a sweep from the future), then it tries to go on."""

        epochs_reported: list[bool] = []

        def __init__(self, *args: Any) -> None:
            pass

        def evaluate(self, genome: Any, report: Any, **job: Any) -> Result:
            SweptMidway.epochs_reported.append(report(1, {"val_accuracy": 0.2}))
            sweeper.sweep(d, settings, now=_after_lease() + timedelta(seconds=LEASE))
            SweptMidway.epochs_reported.append(report(2, {"val_accuracy": 0.4}))
            return Result(status="done", fitness=0.4, metrics={"val_accuracy": 0.4})

    d = SweepQueue()
    search_id = _submit(settings)
    coordinator.advance_search(search_id, d, settings, kick=True)
    _, cid = d.pending.popleft()

    assert coordinator.train_candidate(cid, d, SweptMidway, settings) == "lost-lease"

    assert SweptMidway.epochs_reported == [False, True]  # the second report asked it to stop
    assert list(d.pending) == [("train", cid)]  # only the sweeper's requeue, no step for a stale result
    drain(d, settings)
    cands = _candidates(settings, search_id)
    assert len(cands) == 2 and {c.status for c in cands} <= {"done", "failed"}


def test_stalled_running_search_is_advanced_again(settings: Settings) -> None:
    d = SweepQueue()
    search_id = _submit(settings)
    coordinator.advance_search(search_id, d, settings, kick=True)
    _, cid = d.pending.popleft()
    coordinator.train_candidate(cid, d, ToyEvaluator, settings)
    d.pending.clear()  # the step after this training was lost (coordinator killed, broker lost it)

    assert sweeper.sweep(d, settings).readvanced == []  # quiet for less than a lease: maybe just slow
    swept = sweeper.sweep(d, settings, now=_after_lease())

    assert swept.readvanced == [search_id] and list(d.pending) == [("start", search_id)]
    drain(d, settings)
    with session_scope(settings) as s:
        assert repo.get_search(s, search_id).status == "completed"
    assert len(_candidates(settings, search_id)) == 2


def test_stalled_search_with_a_lost_train_message_gets_it_dispatched_again(settings: Settings) -> None:
    d = SweepQueue()
    search_id = _submit(settings)
    coordinator.advance_search(search_id, d, settings, kick=True)
    d.pending.clear()  # the training message was lost: the candidate stays queued

    sweeper.sweep(d, settings, now=_after_lease())
    drain(d, settings)

    with session_scope(settings) as s:
        assert repo.get_search(s, search_id).status == "completed"
    cands = _candidates(settings, search_id)
    assert len(cands) == 2 and len({c.canonical for c in cands}) == 2


def test_local_and_paused_searches_are_not_advanced_by_the_sweeper(settings: Settings) -> None:
    d = SweepQueue()
    local, paused = _submit(settings), _submit(settings)
    with session_scope(settings, write=True) as s:
        repo.start_search(s, local)
        repo.update_summary(s, local, {"executor": "local"})
        repo.set_search_status(s, paused, "pause")

    assert sweeper.sweep(d, settings, now=_after_lease()).readvanced == []


def test_heartbeat_keeps_the_lease_of_a_slow_epoch_fresh(tmp_path: Any) -> None:
    settings = Settings(data_dir=tmp_path, broker_url="memory://", lease_seconds=1.5)
    upgrade_to_head(settings)
    seen: dict[str, Any] = {}

    class SlowFirstEpoch:
        """Trains for several leases before its first report; the heartbeat alone must keep the lease."""

        def __init__(self, *args: Any) -> None:
            pass

        def evaluate(self, genome: Any, report: Any, **job: Any) -> Result:
            with session_scope(settings) as s:
                first = repo.get_candidate(s, cid).lease_expires_at
            deadline = time.monotonic() + 30
            renewals = 0
            while renewals < 3 and time.monotonic() < deadline:
                with session_scope(settings) as s:
                    now = repo.get_candidate(s, cid).lease_expires_at
                if now != first:
                    renewals, first = renewals + 1, now
                    seen["swept"] = sweeper.sweep(d, settings)
                time.sleep(0.05)
            seen["renewals"] = renewals
            report(1, {"val_accuracy": 0.5})
            return Result(status="done", fitness=0.5, metrics={"val_accuracy": 0.5})

    d = SweepQueue()
    search_id = _submit(settings, budget={"max_candidates": 1})
    coordinator.advance_search(search_id, d, settings, kick=True)
    _, cid = d.pending.popleft()

    assert coordinator.train_candidate(cid, d, SlowFirstEpoch, settings) == "done"
    assert seen["renewals"] == 3 and seen["swept"].requeued == []
    with session_scope(settings) as s:
        cand = repo.get_candidate(s, cid)
        assert (cand.attempt, cand.lease_expires_at) == (1, None)


def test_redelivered_task_takes_over_from_a_dead_sibling_at_once(settings: Settings) -> None:
    d = SweepQueue()
    search_id = _submit(settings)
    coordinator.advance_search(search_id, d, settings, kick=True)
    _, cid = d.pending.popleft()
    dead_sibling = coordinator.worker_name().rsplit(":", 1)[0] + ":999999999"  # no such process
    with session_scope(settings, write=True) as s:
        assert repo.take_lease(s, cid, dead_sibling, LEASE) == 1

    assert coordinator.train_candidate(cid, d, ToyEvaluator, settings) in ("done", "failed")
    with session_scope(settings) as s:
        assert repo.get_candidate(s, cid).attempt == 2


def test_publishing_follow_up_work_rides_out_a_short_broker_outage(tmp_path: Any) -> None:
    from worker.celery_app import make_celery

    conf = make_celery(Settings(data_dir=tmp_path, broker_url="memory://")).conf
    policy = conf.task_publish_retry_policy
    assert conf.task_publish_retry and policy["max_retries"] * policy["interval_max"] >= 30


def _finished_search_with_lost_final(settings: Settings, d: SweepQueue) -> int:
    """A search whose budget is spent: its final task was dispatched, then lost (worker died, or message)."""
    search_id = _submit(settings)
    coordinator.advance_search(search_id, d, settings, kick=True)
    while d.pending and d.pending[0][0] != "finalize":
        kind, ident = d.pending.popleft()
        if kind == "train":
            coordinator.train_candidate(ident, d, ToyEvaluator, settings)
        else:
            coordinator.advance_search(ident, d, settings)
    assert d.pending.popleft() == ("finalize", search_id)  # ... and never run
    return search_id


def test_lost_final_stage_is_dispatched_again_after_its_lease_and_completes(settings: Settings) -> None:
    d = SweepQueue()
    search_id = _finished_search_with_lost_final(settings, d)
    assert sweeper.sweep(d, settings).refinalized == []  # its lease (from the dispatch) still runs
    later = utcnow() + timedelta(seconds=LEASE + 1)
    assert sweeper.sweep(d, settings, now=later).refinalized == [search_id]
    assert sweeper.sweep(d, settings, now=later).refinalized == []  # leased again: dispatched once
    assert list(d.pending) == [("finalize", search_id)]
    drain(d, settings)
    with session_scope(settings) as s:
        search = repo.get_search(s, search_id)
        assert search.status == "completed" and search.summary["final"]


def test_final_stage_held_by_a_live_worker_is_not_run_twice(settings: Settings) -> None:
    d = SweepQueue()
    search_id = _finished_search_with_lost_final(settings, d)
    with session_scope(settings, write=True) as s:
        assert repo.take_final(s, search_id, "other-host:1:2", LEASE)  # a live worker runs it
    assert coordinator.finalize_search(search_id, toy_finalizer, settings) == "held-elsewhere"
    assert sweeper.sweep(d, settings).refinalized == []
    with session_scope(settings, write=True) as s:
        assert repo.renew_final(s, search_id, "other-host:1:2", LEASE)
        assert not repo.renew_final(s, search_id, "someone-else", LEASE)
        assert repo.get_search(s, search_id).status == "running"


def test_final_stage_holds_its_lease_while_it_runs_so_no_sweep_hands_it_on(settings: Settings) -> None:
    d = SweepQueue()
    search_id = _finished_search_with_lost_final(settings, d)
    seen: list[Any] = []

    def finalizer(*args: Any) -> Any:
        with session_scope(settings, write=True) as s:  # what the heartbeat does every third of the lease
            seen.append(repo.renew_final(s, search_id, coordinator.worker_name(), LEASE))
        seen.append(sweeper.sweep(d, settings).refinalized)
        return toy_finalizer(*args)

    assert coordinator.finalize_search(search_id, finalizer, settings) == "completed"
    assert seen == [True, []] and not d.pending
