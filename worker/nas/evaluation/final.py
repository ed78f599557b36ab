"""Final training: retrain the chosen candidates on train+validation, score each once on the test set.

The candidates are chosen by validation figures only; the test set is read here and nowhere else. With
`repeats: N` each candidate is trained under N seeds and reported as mean ± std.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from worker.nas.evaluation.augment import Augmenter
from worker.nas.evaluation.datasets import DatasetSplits
from worker.nas.evaluation.trainer import TrainConfig, Trainer, pick_device
from worker.nas.spec import SearchSpec
from worker.nas.types import Genome

# Datasets whose classes change meaning when mirrored (digits): no horizontal flip for them.
NO_FLIP = {"digits", "mnist"}


class EpochBudget:
    """How many epochs of one training fit in `seconds`, from the pace of the epochs done so far. The final
    stage plans its epochs from the search's speed; this keeps the plan honest when an epoch turns out
    slower (augmentation, a busier machine): the run is shortened, never left to overrun."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds, self.clock, self.start = seconds, clock, clock()

    def epochs_that_fit(self, done: int) -> int:
        elapsed = self.clock() - self.start
        if done <= 0 or elapsed <= 0:
            return done
        return done + max(0, int((self.seconds - elapsed) // (elapsed / done)))


@dataclass
class FinalReport:
    genome: Genome
    epochs: int
    runs: list[dict[str, Any]] = field(default_factory=list)
    model: torch.nn.Module | None = None  # the first successful run's network (exported if best)
    cancelled: bool = False  # `should_stop` ended it

    def summary(self) -> dict[str, Any]:
        accs = [r["test_accuracy"] for r in self.runs if r["status"] == "done"]
        trained = [r["epochs"] for r in self.runs if r.get("epochs")]
        return {
            "genome": self.genome,
            "epochs": max(trained) if trained else self.epochs,  # what ran: a run may be shortened
            "planned_epochs": self.epochs,
            "runs": self.runs,
            "test_accuracy": statistics.fmean(accs) if accs else None,
            "test_accuracy_std": statistics.stdev(accs) if len(accs) > 1 else 0.0 if accs else None,
        }


def final_train(
    spec: SearchSpec,
    space: Any,
    splits: DatasetSplits,
    genome: Genome,
    *,
    device: str | torch.device | None = None,
    on_epoch: Callable[[int, int, dict[str, float]], None] | None = None,
    epochs: int | None = None,
    seconds: float | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> FinalReport:
    """Train `genome` from scratch `spec.final.repeats` times on train+val; test once per run.

    `epochs` overrides the recipe's (final.epochs, else training.epochs), e.g. to fit a time budget;
    `seconds` bounds each run: once the pace shows the epochs will not fit, the run is shortened.
    `should_stop` is asked after every epoch (the search was cancelled): the run ends there, recorded as
    cancelled, and no further repeat starts.
    """
    epochs = epochs or spec.final.epochs or spec.training.epochs
    report = FinalReport(genome, epochs)
    x, y = splits.train_and_val()
    dev = pick_device(device)
    for repeat in range(spec.final.repeats):
        seed = spec.seed + 1000 * (repeat + 1)  # different from the search's seed
        t0 = time.monotonic()
        try:
            torch.manual_seed(seed)
            model = space.build(genome)
            cfg = TrainConfig.from_spec(
                spec.training, seed=seed, epochs=epochs, patience=None, max_seconds=None
            )
            augment = None
            if spec.dataset.augment:
                augment = Augmenter(
                    splits.input_shape,
                    flip=splits.name not in NO_FLIP,
                    seed=seed,
                    device=dev,
                    erasing=spec.dataset.erasing,
                )
            trainer = Trainer(model, cfg, n_classes=splits.n_classes, device=dev, augment=augment)
            budget = EpochBudget(seconds) if seconds is not None else None

            def epoch_done(
                e: int, m: dict[str, float], r: int = repeat, tr: Trainer = trainer, b: Any = budget
            ) -> bool:
                if b is not None:
                    tr.shorten(b.epochs_that_fit(e))
                if on_epoch is not None:
                    on_epoch(r, e, m)
                return bool(should_stop and should_stop())

            run = trainer.fit(x, y, on_epoch=epoch_done)
            if run.stopped and run.stopped.startswith("stopped by the search"):
                report.runs.append({"seed": seed, "status": "cancelled", "epochs": run.epochs_done})
                report.cancelled = True
                break
            if run.status == "failed":
                report.runs.append({"seed": seed, "status": "failed", "error": run.reason})
                continue
            test = trainer.evaluate(splits.x_test, splits.y_test)
        except Exception as exc:  # noqa: BLE001 - one failed repeat is reported, the others still count
            report.runs.append({"seed": seed, "status": "failed", "error": f"{type(exc).__name__}: {exc}"})
            continue
        report.runs.append(
            {
                "seed": seed,
                "status": "done",
                "test_accuracy": test["accuracy"],
                "test_f1": test["f1"],
                "test_loss": test["loss"],
                "train_loss": run.metrics.get("train_loss"),
                "epochs": run.epochs_done,
                "seconds": time.monotonic() - t0,
            }
        )
        if report.model is None:
            report.model = trainer.model
    return report
