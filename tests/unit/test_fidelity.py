from __future__ import annotations

import pytest
import torch

from worker.nas.evaluation.fidelity import (
    MedianStopping,
    hyperband_brackets,
    promote,
    rung_epochs,
    successive_halving_bracket,
)
from worker.nas.runner import run_local_search
from worker.nas.sink import MemorySink
from worker.nas.spec import parse_spec


def test_rungs_grow_by_eta_and_end_at_max():
    assert rung_epochs(1, 9, 3) == [1, 3, 9]
    assert rung_epochs(1, 10, 3) == [1, 3, 9, 10]
    assert rung_epochs(2, 5, 2) == [2, 4, 5]
    assert rung_epochs(5, 3, 3) == [3]


def test_promote_keeps_best_third_and_drops_failures():
    scores = [(1, 0.5), (2, None), (3, 0.9), (4, 0.1), (5, 0.7), (6, 0.6)]
    assert promote(scores, 3) == [3, 5]
    assert promote([(1, None), (2, None)], 2) == []
    assert promote([(1, 0.2)], 3) == [1]


def test_brackets_follow_hyperband():
    assert successive_halving_bracket(1, 9, 3).n == 9
    brackets = hyperband_brackets(1, 9, 3)
    assert [(b.n, b.rungs) for b in brackets] == [(9, [1, 3, 9]), (5, [3, 9]), (3, [9])]


def test_median_stopping_waits_for_enough_curves_then_stops_laggards():
    rule = MedianStopping(min_epochs=2, min_curves=3)
    assert not rule.should_stop(2, 0.0)  # nothing to compare with yet
    for top in (0.6, 0.7, 0.8):
        rule.add_curve([{"val_accuracy": top - 0.1}, {"val_accuracy": top}, {"val_accuracy": top + 0.05}])
    assert not rule.should_stop(1, 0.0)  # before min_epochs
    assert rule.should_stop(2, 0.65) and not rule.should_stop(2, 0.75)


@pytest.fixture
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_successive_halving_promotes_by_resuming_not_restarting(one_thread, tmp_path):
    spec = parse_spec(
        {
            "space": {"type": "layers", "max_depth": 3, "filters": [8, 16]},
            "strategy": {"type": "random"},
            "dataset": {"name": "digits", "train_subset": 400},
            "training": {"epochs": 4, "batch_size": 64},
            "multi_fidelity": {"type": "successive-halving", "min_epochs": 1, "eta": 2},
            "budget": {"max_candidates": 4},
            "final": {"top_k": 0},
        }
    )
    sink = MemorySink()
    run_local_search(spec, sink, artefact_dir=tmp_path)
    epochs = sorted(len(c["curve"]) for c in sink.candidates.values() if c["status"] == "done")
    assert epochs == [1, 1, 2, 4]  # 4 start at 1 epoch, 2 go on to 2, 1 to 4 (rungs 1, 2, 4)
    longest = max(sink.candidates.values(), key=lambda c: len(c["curve"]))
    assert [p["epoch"] for p in longest["curve"]] == [1, 2, 3, 4]  # continued where it stopped
    assert longest["result"].metrics["epochs"] == 4


def test_hyperband_runs_brackets_with_rung_budgets(one_thread, tmp_path):
    spec = parse_spec(
        {
            "space": {"type": "layers", "max_depth": 3, "filters": [8, 16]},
            "strategy": {"type": "random"},
            "dataset": {"name": "digits", "train_subset": 300},
            "training": {"epochs": 4, "batch_size": 64},
            "multi_fidelity": {"type": "hyperband", "min_epochs": 1, "eta": 2},
            "budget": {"max_candidates": 8},
            "final": {"top_k": 0},
        }
    )
    sink = MemorySink()
    summary = run_local_search(spec, sink, artefact_dir=tmp_path)
    assert summary["candidates"] == 8
    assert {len(c["curve"]) for c in sink.candidates.values()} <= {1, 2, 4}
    assert sorted(len(c["curve"]) for c in sink.candidates.values())[-1] == 4


@pytest.mark.parametrize("schedule", ["successive-halving", "asha"])
def test_failed_promotion_keeps_the_lower_rung_result_and_is_not_tried_again(
    one_thread, tmp_path, monkeypatch, schedule
):
    from worker.nas.evaluation.evaluator import EvalOutcome, TrainingEvaluator
    from worker.nas.types import Result

    real = TrainingEvaluator.evaluate
    promotions_tried: dict[str, int] = {}

    def promotions_fail(self, genome, report=lambda e, m: None, **kw):
        if kw.get("resume") is not None:
            key = repr(genome)
            promotions_tried[key] = promotions_tried.get(key, 0) + 1
            return EvalOutcome(Result(status="failed", error="out of memory at epoch 2: test"))
        return real(self, genome, report, **kw)

    monkeypatch.setattr(TrainingEvaluator, "evaluate", promotions_fail)
    spec = parse_spec(
        {
            "space": {"type": "layers", "max_depth": 3, "filters": [8, 16]},
            "strategy": {"type": "random"},
            "dataset": {"name": "digits", "train_subset": 300},
            "training": {"epochs": 4, "batch_size": 64},
            "multi_fidelity": {"type": schedule, "min_epochs": 1, "eta": 2},
            "budget": {"max_candidates": 4},
            "final": {"top_k": 0},
        }
    )
    sink = MemorySink()
    run_local_search(spec, sink, artefact_dir=tmp_path)
    promoted = [c for c in sink.candidates.values() if (c["result"].error or "").startswith("promotion to")]
    assert len(promoted) >= 1 and sum(promotions_tried.values()) == len(promoted)
    assert set(promotions_tried.values()) == {1}  # each failed promotion was tried once
    # The row shows the rung its kept result was trained at, not the one that failed.
    assert all(c["status"] == "done" and c["result"].metrics["epochs"] == 1 for c in promoted)
    assert all(c["rung"] == c["start_rung"] == 0 for c in promoted)
    assert "out of memory at epoch 2: test" in promoted[0]["result"].error


def test_a_lost_job_continues_from_its_last_epoch_and_ends_as_if_never_interrupted(one_thread, tmp_path):
    import random

    from worker.nas.evaluation.evaluator import TrainingEvaluator
    from worker.nas.factory import make_space
    from worker.nas.types import TaskShape

    spec = parse_spec(
        {
            "space": {"type": "layers", "max_depth": 3, "filters": [8, 16]},
            "strategy": {"type": "random"},
            "dataset": {"name": "digits", "train_subset": 400},
            "training": {"epochs": 6, "batch_size": 64},
            "final": {"top_k": 0},
        }
    )
    probe = TrainingEvaluator(spec, None)
    space = make_space(spec, TaskShape(probe.splits.input_shape, probe.splits.n_classes))
    evaluator = TrainingEvaluator(spec, space, artefact_dir=tmp_path, splits=probe.splits)
    genome = space.sample(random.Random(0))
    whole = evaluator.evaluate(genome, epochs=4)  # a first rung of 4 of the schedule's 6 epochs

    class WorkerLost(Exception):
        pass

    def lost_at_3(epoch: int, metrics: dict) -> None:
        if epoch == 3:
            raise WorkerLost  # epochs 1-2 reported (their state kept), the worker gone during epoch 3's

    progress = tmp_path / "progress.ckpt"
    evaluator.evaluate(genome, lost_at_3, epochs=4, progress=progress)
    seen: list[int] = []
    again = evaluator.evaluate(genome, lambda e, m: seen.append(e), epochs=4, progress=progress)
    assert seen == [3, 4] and again.result.metrics["continued_from_epoch"] == 2
    assert again.result.metrics["val_accuracy"] == whole.result.metrics["val_accuracy"]
    assert again.result.metrics["val_loss"] == pytest.approx(whole.result.metrics["val_loss"], rel=1e-6)
    # The promotion to 6 epochs resumes its rung checkpoint (epoch 4); the older file (epoch 2) is ignored.
    seen.clear()
    promoted = evaluator.evaluate(
        genome, lambda e, m: seen.append(e), epochs=6, resume=again.checkpoint, progress=progress
    )
    assert seen == [5, 6] and "continued_from_epoch" not in promoted.result.metrics
