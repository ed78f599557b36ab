"""Final training: retrain the chosen candidates on train+validation, score each once on the test set.

The candidates are chosen by validation figures only; the test set is read here and nowhere else. With
`repeats: N` each candidate is trained under N seeds and reported as mean ± std.
"""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from worker.nas.evaluation.augment import Augmenter
from worker.nas.evaluation.checkpoints import load_checkpoint, save_checkpoint
from worker.nas.evaluation.datasets import DatasetSplits
from worker.nas.evaluation.trainer import TrainConfig, Trainer, pick_device
from worker.nas.spec import SearchSpec
from worker.nas.types import Genome

log = logging.getLogger(__name__)

# Datasets whose classes change meaning when mirrored (digits): no horizontal flip for them.
NO_FLIP = {"digits", "mnist"}


class EpochBudget:
    """How many epochs of one training fit in `seconds`, from the pace of the epochs done so far. The final
    stage plans its epochs from the search's speed; this keeps the plan honest when an epoch turns out
    slower (augmentation, a busier machine): the run is shortened, never left to overrun."""

    def __init__(
        self, seconds: float, clock: Callable[[], float] = time.monotonic, spent: float = 0.0
    ) -> None:
        # `spent`: seconds an earlier attempt of this run already trained (continued from its checkpoint)
        self.seconds, self.clock, self.start = seconds, clock, clock() - spent

    def elapsed(self) -> float:
        return self.clock() - self.start

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
    progress_dir: Path | None = None,
) -> FinalReport:
    """Train `genome` from scratch `spec.final.repeats` times on train+val; test once per run.

    `epochs` overrides the recipe's (final.epochs, else training.epochs), e.g. to fit a time budget;
    `seconds` bounds each run: once the pace shows the epochs will not fit, the run is shortened.
    `should_stop` is asked after every epoch (the search was cancelled): the run ends there, recorded as
    cancelled, and no further repeat starts.
    `progress_dir`: each run keeps its state there after every epoch, and a run whose file is there (its
    worker was lost) continues from it, with the time it had already spent counted against `seconds`.
    """
    epochs = epochs or spec.final.epochs or spec.training.epochs
    report = FinalReport(genome, epochs)
    x, y = splits.train_and_val()
    dev = pick_device(device)
    for repeat in range(spec.final.repeats):
        seed = spec.seed + 1000 * (repeat + 1)  # different from the search's seed
        t0, spent = time.monotonic(), 0.0
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
            saved = progress_dir / f"repeat-{repeat}.ckpt" if progress_dir is not None else None
            spent = _continue_from(trainer, saved)
            budget = EpochBudget(seconds if seconds is not None else float("inf"), spent=spent)

            def epoch_done(
                e: int,
                m: dict[str, float],
                r: int = repeat,
                tr: Trainer = trainer,
                b: Any = budget,
                saved: Path | None = saved,
            ) -> bool:
                if seconds is not None:
                    tr.shorten(b.epochs_that_fit(e))
                if on_epoch is not None:
                    on_epoch(r, e, m)
                stop = bool(should_stop and should_stop())
                if saved is not None and not stop and e < tr.cfg.epochs:
                    save_checkpoint({"trainer": tr.state_dict(), "seconds": b.elapsed()}, saved)
                return stop

            run = trainer.fit(x, y, on_epoch=epoch_done)
            if saved is not None:
                saved.unlink(missing_ok=True)  # the run ended (done, failed, cancelled): none to continue
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
                "seconds": time.monotonic() - t0 + spent,
            }
        )
        if report.model is None:
            report.model = trainer.model
    return report


def _continue_from(trainer: Trainer, saved: Path | None) -> float:
    """Load a lost attempt's state of this run; the seconds it had trained (0: starting afresh)."""
    if saved is None or not saved.exists():
        return 0.0
    try:
        state = load_checkpoint(saved)
        trainer.load_state_dict(state["trainer"])
    except Exception as exc:  # noqa: BLE001 - an unreadable file: the run starts afresh
        log.warning("ignoring final-training checkpoint %s: %s", saved, exc)
        return 0.0
    log.warning("final training continues from epoch %s of an earlier attempt", trainer.epoch)
    return float(state["seconds"])
