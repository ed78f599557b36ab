"""The coordinator's steps with an in-memory dispatcher and a closed-form evaluator (no broker, no torch)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import pytest
from service_drain import QueueDispatcher

from backend.db import repository as repo
from backend.db.migrate import upgrade_to_head
from backend.db.session import session_scope
from backend.settings import Settings
from worker import coordinator
from worker.nas.objectives import Objective
from worker.nas.types import Result


class ToyEvaluator:
    """Fitness from a hash of the genome; every genome whose hash is divisible by 3 'diverges' (NaN)."""

    calls: list[dict[str, Any]] = []

    def __init__(self, search_id: int, spec: Any, space: Any, settings: Settings) -> None:
        self.objective = Objective.from_spec(spec)

    def evaluate(self, genome: dict[str, Any], report: Any, **job: Any) -> Result:
        ToyEvaluator.calls.append(genome)
        h = int(hashlib.sha256(repr(sorted(genome.items())).encode()).hexdigest(), 16)
        if h % 3 == 0:
            report(1, {"train_loss": float("nan")})
            return Result(status="failed", error="training loss became NaN at epoch 1")
        acc = (h % 1000) / 1000
        for epoch in (1, 2):
            report(epoch, {"train_loss": 1.0 / epoch, "val_accuracy": acc * epoch / 2})
        metrics = {"val_accuracy": acc, "params": 1000.0}
        return Result(status="done", fitness=self.objective.fitness(metrics), metrics=metrics)


def toy_finalizer(search_id: int, spec: Any, ranked: list[Any], settings: Settings) -> tuple[dict, dict]:
    return {"final": [{"candidate_id": ranked[0].cid, "test_accuracy": 0.5}]}, {}


def drain(d: QueueDispatcher, settings: Settings, limit: int = 500) -> None:
    """Run the dispatched work in order, like one worker; a `start` (the sweeper's) is a kicked step."""
    for _ in range(limit):
        if not d.pending:
            return
        kind, ident = d.pending.popleft()
        d.log.append((kind, ident))
        if kind == "train":
            coordinator.train_candidate(ident, d, ToyEvaluator, settings)
        elif kind in ("advance", "start"):
            coordinator.advance_search(ident, d, settings, kick=kind == "start")
        else:
            coordinator.finalize_search(ident, toy_finalizer, settings)
    raise AssertionError("work never ran out")


@pytest.fixture()
def settings(tmp_path: Any) -> Iterator[Settings]:
    s = Settings(data_dir=tmp_path, broker_url="memory://")
    upgrade_to_head(s)
    yield s


def _submit(settings: Settings, **overrides: Any) -> int:
    spec = {
        "name": "toy",
        "space": {"type": "nb201"},
        "strategy": {"type": "random"},
        "budget": {"max_candidates": 8},
        "parallelism": 3,
        **overrides,
    }
    with session_scope(settings, write=True) as s:
        return repo.create_search(s, spec, "toy").id


def test_search_runs_to_completion_with_failed_candidates_recorded(settings: Settings) -> None:
    search_id = _submit(settings)
    d = QueueDispatcher()
    first = coordinator.advance_search(search_id, d, settings, kick=True)
    assert len(first["dispatched"]) == 3  # parallelism fills the in-flight slots
    drain(d, settings)
    with session_scope(settings) as s:
        search = repo.get_search(s, search_id)
        cands, _ = repo.candidates_after(s, search_id, 0, 100)
        summary = repo.search_summary(s, search_id)
        assert search.status == "completed" and search.progress == 1.0
        assert len(cands) == 8 and {c.status for c in cands} <= {"done", "failed"}
        failed = [c for c in cands if c.status == "failed"]
        assert all("NaN" in c.error for c in failed)
        assert summary["n_done"] + summary["n_failed"] == 8
        best = max((c for c in cands if c.status == "done"), key=lambda c: c.fitness)
        assert summary["best"]["candidate_id"] == best.id
        assert all(repo.candidate_curve(s, c.id) for c in cands)
        assert search.summary["stop_reason"] == "max_candidates"
        assert search.summary["final"][0]["candidate_id"] == best.id
        assert sorted(c.told for c in cands) == list(range(8))  # every result told exactly once
        assert "history" not in search.strategy_state["strategy"]  # the candidates are the history
    assert [k for k, _ in d.log].count("finalize") == 1


def test_in_flight_never_exceeds_parallelism(settings: Settings) -> None:
    search_id = _submit(settings, parallelism=2)
    d = QueueDispatcher()
    coordinator.advance_search(search_id, d, settings, kick=True)
    peak = 0
    while d.pending:
        with session_scope(settings) as s:
            counts = repo.candidate_counts(s, search_id)
        peak = max(peak, counts["queued"] + counts["training"])
        kind, ident = d.pending.popleft()
        if kind == "train":
            coordinator.train_candidate(ident, d, ToyEvaluator, settings)
        elif kind == "advance":
            coordinator.advance_search(ident, d, settings)
        else:
            coordinator.finalize_search(ident, toy_finalizer, settings)
    assert peak == 2


def test_redelivered_train_task_of_finished_candidate_does_nothing(settings: Settings) -> None:
    search_id = _submit(settings, budget={"max_candidates": 2})
    d = QueueDispatcher()
    coordinator.advance_search(search_id, d, settings, kick=True)
    _, cid = d.pending[0]
    drain(d, settings)
    before = len(ToyEvaluator.calls)
    assert coordinator.train_candidate(cid, d, ToyEvaluator, settings) == "already-finished"
    assert len(ToyEvaluator.calls) == before and not d.pending


def test_cancel_stops_dispatch_and_marks_queued_candidates_cancelled(settings: Settings) -> None:
    search_id = _submit(settings)
    d = QueueDispatcher()
    coordinator.advance_search(search_id, d, settings, kick=True)
    with session_scope(settings, write=True) as s:
        repo.set_search_status(s, search_id, "cancel")
    drain(d, settings)
    with session_scope(settings) as s:
        cands, _ = repo.candidates_after(s, search_id, 0, 100)
        assert {c.status for c in cands} == {"cancelled"} and len(cands) == 3
        assert repo.get_search(s, search_id).status == "cancelled"
    assert [k for k, _ in d.log].count("finalize") == 0


def test_pause_holds_queued_work_and_resume_redispatches_it(settings: Settings) -> None:
    search_id = _submit(settings, budget={"max_candidates": 4}, parallelism=2)
    d = QueueDispatcher()
    coordinator.advance_search(search_id, d, settings, kick=True)
    with session_scope(settings, write=True) as s:
        repo.set_search_status(s, search_id, "pause")
    drain(d, settings)
    with session_scope(settings) as s:
        assert repo.candidate_counts(s, search_id)["queued"] == 2
        repo_status = repo.get_search(s, search_id).status
    assert repo_status == "paused"
    with session_scope(settings, write=True) as s:
        repo.set_search_status(s, search_id, "resume")
    coordinator.advance_search(search_id, d, settings, kick=True)
    drain(d, settings)
    with session_scope(settings) as s:
        assert repo.get_search(s, search_id).status == "completed"
        assert repo.search_summary(s, search_id)["n_candidates"] == 4


def test_target_fitness_stops_the_search_early(settings: Settings) -> None:
    search_id = _submit(settings, budget={"max_candidates": 50, "target": 0.0}, parallelism=1)
    d = QueueDispatcher()
    coordinator.advance_search(search_id, d, settings, kick=True)
    drain(d, settings)
    with session_scope(settings) as s:
        search = repo.get_search(s, search_id)
        assert search.status == "completed" and search.summary["stop_reason"] == "target"
        assert repo.search_summary(s, search_id)["n_candidates"] < 50


def test_evaluator_exception_is_recorded_as_failed_candidate(settings: Settings) -> None:
    class Exploding:
        def __init__(self, *args: Any) -> None:
            pass

        def evaluate(self, genome: Any, report: Any, **job: Any) -> Result:
            raise RuntimeError("CUDA out of memory")

    search_id = _submit(settings, budget={"max_candidates": 2}, parallelism=2)
    d = QueueDispatcher()
    coordinator.advance_search(search_id, d, settings, kick=True)
    while d.pending:
        kind, ident = d.pending.popleft()
        if kind == "train":
            coordinator.train_candidate(ident, d, Exploding, settings)
        elif kind == "advance":
            coordinator.advance_search(ident, d, settings)
        else:
            coordinator.finalize_search(ident, toy_finalizer, settings)
    with session_scope(settings) as s:
        search = repo.get_search(s, search_id)
        cands, _ = repo.candidates_after(s, search_id, 0, 10)
        assert {c.error for c in cands} == {"RuntimeError: CUDA out of memory"}
        assert search.status == "failed" and "no candidate finished" in search.error


def test_worker_error_marks_candidate_failed_and_search_goes_on(settings: Settings) -> None:
    search_id = _submit(settings, budget={"max_candidates": 2}, parallelism=1)
    d = QueueDispatcher()
    coordinator.advance_search(search_id, d, settings, kick=True)
    _, cid = d.pending.popleft()
    coordinator.fail_candidate(
        cid, "worker error: OperationalError: server closed the connection", d, settings
    )
    assert list(d.pending) == [("advance", search_id)]
    drain(d, settings)
    with session_scope(settings) as s:
        assert repo.get_candidate(s, cid).error.startswith("worker error: OperationalError")
        assert repo.get_search(s, search_id).status == "completed"


def test_warm_start_puts_the_earlier_searches_best_first(settings: Settings) -> None:
    first = _submit(settings, budget={"max_candidates": 6})
    d = QueueDispatcher()
    coordinator.advance_search(first, d, settings, kick=True)
    drain(d, settings)
    with session_scope(settings) as s:
        best = repo.best_genomes(s, first, 2)
    second = _submit(settings, budget={"max_candidates": 4}, parallelism=3, warm_start_from=first)
    coordinator.advance_search(second, d, settings, kick=True)
    with session_scope(settings) as s:
        cands, _ = repo.candidates_after(s, second, 0, 10)
    assert [c.genome for c in cands[:2]] == best and cands[0].origin == {
        "operator": "warm-start",
        "warm_start_from": first,
    }
    assert len(cands) == 3


def test_cancel_during_training_stops_at_the_next_epoch(settings: Settings) -> None:
    class CancelledAtEpochTwo:
        def __init__(self, search_id: int, spec: Any, space: Any, settings: Settings) -> None:
            self.search_id, self.settings = search_id, settings

        def evaluate(self, genome: Any, report: Any, **job: Any) -> Result:
            for epoch in range(1, 6):
                if epoch == 2:  # what POST /cancel does while this candidate trains
                    with session_scope(self.settings, write=True) as s:
                        repo.set_search_status(s, self.search_id, "cancel")
                if report(epoch, {"val_accuracy": 0.1 * epoch}):
                    metrics = {"val_accuracy": 0.1 * epoch, "stopped_early": 1.0}
                    return Result(status="done", fitness=0.1 * epoch, metrics=metrics)
            return Result(status="done", fitness=0.5, metrics={"val_accuracy": 0.5})

    search_id = _submit(settings, budget={"max_candidates": 3}, parallelism=1)
    d = QueueDispatcher()
    coordinator.advance_search(search_id, d, settings, kick=True)
    _, cid = d.pending.popleft()
    assert coordinator.train_candidate(cid, d, CancelledAtEpochTwo, settings) == "cancelled"
    drain(d, settings)
    with session_scope(settings) as s:
        assert [p["epoch"] for p in repo.candidate_curve(s, cid)] == [1, 2]
        assert repo.get_search(s, search_id).status == "cancelled"
        assert repo.search_summary(s, search_id)["n_candidates"] == 1
    assert "finalize" not in [k for k, _ in d.log]


def test_median_stopping_stops_a_candidate_below_the_median_curve(settings: Settings) -> None:
    class Curves:
        """The first three candidates climb to 0.9; the fourth stays at 0.1 and should be stopped."""

        n = 0

        def __init__(self, *args: Any) -> None:
            pass

        def evaluate(self, genome: Any, report: Any, **job: Any) -> Result:
            Curves.n += 1
            level = 0.9 if Curves.n <= 3 else 0.1
            for epoch in range(1, 5):
                if report(epoch, {"val_accuracy": level}):
                    return Result(
                        status="done", fitness=level, metrics={"val_accuracy": level, "epochs": epoch}
                    )
            return Result(status="done", fitness=level, metrics={"val_accuracy": level, "epochs": 4})

    spec = {"budget": {"max_candidates": 4}, "parallelism": 1, "multi_fidelity": {"type": "median-stopping"}}
    search_id = _submit(settings, **spec)
    d = QueueDispatcher()
    coordinator.advance_search(search_id, d, settings, kick=True)
    while d.pending:
        kind, ident = d.pending.popleft()
        if kind == "train":
            coordinator.train_candidate(ident, d, Curves, settings)
        elif kind == "advance":
            coordinator.advance_search(ident, d, settings)
        else:
            coordinator.finalize_search(ident, toy_finalizer, settings)
    with session_scope(settings) as s:
        cands, _ = repo.candidates_after(s, search_id, 0, 10)
        epochs = [len(repo.candidate_curve(s, c.id)) for c in sorted(cands, key=lambda c: c.id)]
    assert epochs == [4, 4, 4, 1]


def test_successive_halving_runs_in_the_service_and_promotes_from_checkpoints(settings: Settings) -> None:
    spec = {
        "budget": {"max_candidates": 3},
        "parallelism": 2,
        "training": {"epochs": 4},
        "multi_fidelity": {"type": "successive-halving", "min_epochs": 2, "eta": 3},
    }
    search_id = _submit(settings, **spec)
    d = QueueDispatcher()
    coordinator.advance_search(search_id, d, settings, kick=True)
    drain(d, settings)
    with session_scope(settings) as s:
        cands, _ = repo.candidates_after(s, search_id, 0, 10)
        assert repo.get_search(s, search_id).status == "completed"
    trained = [c for c in cands if c.status == "done"]
    promoted = [c for c in trained if c.epochs == 4]
    assert len(promoted) == 1 and promoted[0].rung == 1  # the best of the rung went on to 4 epochs
    assert promoted[0].fitness == max(c.fitness for c in trained)


def test_cancel_during_the_final_training_ends_it_and_keeps_the_search_cancelled(settings: Settings) -> None:
    # The real final stage (digits, 50 final epochs), cancelled as it starts: it stops after one epoch.
    from worker import engine_bridge

    search_id = _submit(
        settings,
        space={"type": "layers"},
        dataset={"name": "digits"},
        training={"epochs": 1, "batch_size": 64},
        budget={"max_candidates": 2},
        parallelism=1,
        final={"top_k": 1, "epochs": 50},
    )

    def cancel_then_final(sid: int, spec: Any, ranked: list[Any], st: Settings) -> tuple[dict, dict]:
        with session_scope(st, write=True) as s:
            repo.set_search_status(s, sid, "cancel")  # what POST /cancel does during the final stage
        return engine_bridge.final_stage(sid, spec, ranked, st)

    d = QueueDispatcher()
    coordinator.advance_search(search_id, d, settings, kick=True)
    while d.pending:
        kind, ident = d.pending.popleft()
        if kind == "train":
            coordinator.train_candidate(ident, d, ToyEvaluator, settings)
        elif kind == "advance":
            coordinator.advance_search(ident, d, settings)
        else:
            assert coordinator.finalize_search(ident, cancel_then_final, settings) == "cancelled"
    with session_scope(settings) as s:
        search = repo.get_search(s, search_id)
        assert search.status == "cancelled"
        assert search.summary["final_error"].startswith("FinalCancelled: the search was cancelled during")
        assert search.summary["final_error"].endswith("(after 1 of 50 epochs)")
