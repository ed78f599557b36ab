"""The final training's time budget: planned from the search's speed, kept by shortening a slower run."""

from __future__ import annotations

import random
from typing import Any

from worker.nas.evaluation.datasets import load_dataset
from worker.nas.evaluation.final import EpochBudget, final_train
from worker.nas.registry import space_class
from worker.nas.spec import DatasetSpec, parse_spec
from worker.nas.types import TaskShape


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def digits_final(final: dict[str, Any]) -> tuple[Any, Any, Any, Any]:
    """(spec, splits, space, a sampled genome) of a digits `layers` search with this `final` section."""
    spec = parse_spec(
        {
            "name": "final-budget",
            "space": {"type": "layers"},
            "dataset": {"name": "digits"},
            "training": {"epochs": 1, "batch_size": 64},
            "final": final,
        }
    )
    splits = load_dataset(DatasetSpec(name="digits"), seed=0)
    cls = space_class("layers")
    space = cls(cls.Options.model_validate({}), TaskShape(input_shape=splits.input_shape))
    return spec, splits, space, space.sample(random.Random(0))


def test_epochs_that_fit_follow_the_pace_so_far() -> None:
    clock = FakeClock()
    budget = EpochBudget(100.0, clock)
    clock.now = 30.0  # one epoch took 30 s: 70 s left hold two more
    assert budget.epochs_that_fit(1) == 3
    clock.now = 90.0  # three epochs in 90 s: nothing more fits
    assert budget.epochs_that_fit(3) == 3
    clock.now = 130.0  # already over: never fewer than done
    assert budget.epochs_that_fit(4) == 4


def test_final_training_over_its_budget_is_shortened_and_reports_the_epochs_run() -> None:
    spec, splits, space, genome = digits_final({"top_k": 1, "epochs": 6, "repeats": 1})
    report = final_train(spec, space, splits, genome, device="cpu", seconds=1e-6)
    summary = report.summary()
    assert summary["planned_epochs"] == 6 and summary["epochs"] == 1, summary
    assert summary["runs"][0]["status"] == "done" and summary["test_accuracy"] is not None
    unbounded = final_train(spec, space, splits, genome, device="cpu", epochs=2).summary()
    assert unbounded["epochs"] == unbounded["planned_epochs"] == 2


def test_cancel_ends_the_final_training_after_the_current_epoch() -> None:
    spec, splits, space, genome = digits_final({"top_k": 1, "epochs": 50, "repeats": 3})
    asked: list[int] = []

    def cancelled() -> bool:
        asked.append(1)
        return len(asked) >= 2  # the cancel arrives during the second epoch

    report = final_train(spec, space, splits, genome, device="cpu", should_stop=cancelled)
    assert report.cancelled and report.runs == [{"seed": 1000, "status": "cancelled", "epochs": 2}]


def test_a_lost_final_training_continues_from_its_last_epoch_with_the_time_it_spent(tmp_path) -> None:
    spec, splits, space, genome = digits_final({"top_k": 1, "epochs": 5, "repeats": 1})
    epochs_seen: list[int] = []

    class WorkerLost(Exception):
        pass

    def lost_at_3(repeat: int, epoch: int, metrics: dict) -> None:
        epochs_seen.append(epoch)
        if epoch == 3:
            raise WorkerLost  # state kept after epochs 1-2, the worker gone during epoch 3

    lost = final_train(spec, space, splits, genome, device="cpu", on_epoch=lost_at_3, progress_dir=tmp_path)
    assert lost.runs[0]["status"] == "failed" and (tmp_path / "repeat-0.ckpt").exists()
    epochs_seen.clear()
    report = final_train(
        spec,
        space,
        splits,
        genome,
        device="cpu",
        on_epoch=lambda r, e, m: epochs_seen.append(e),
        progress_dir=tmp_path,
        seconds=3600,
    )
    assert epochs_seen == [3, 4, 5]  # continued, not restarted
    run = report.runs[0]
    assert run["status"] == "done" and run["epochs"] == 5 and run["test_accuracy"] > 0.5
    assert not (tmp_path / "repeat-0.ckpt").exists()  # done: nothing left to continue from


def test_epoch_budget_counts_the_seconds_an_earlier_attempt_spent() -> None:
    clock = FakeClock()
    budget = EpochBudget(100.0, clock, spent=60.0)  # 2 epochs in 60 s before the worker was lost
    clock.now = 30.0  # a third epoch in 30 s: 90 s for 3, nothing more fits
    assert budget.epochs_that_fit(3) == 3
