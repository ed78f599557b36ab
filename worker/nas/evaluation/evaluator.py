"""Evaluate a genome by really training it: build, (inherit / resume), train, measure, score.

Never raises for a bad candidate: an impossible shape, a NaN loss, an out-of-memory error or a time limit
become a failed `Result` with the reason, so the search records it and goes on.
"""

from __future__ import annotations

import hashlib
import logging
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from worker.nas.evaluation.augment import Augmenter
from worker.nas.evaluation.checkpoints import inherit_weights, load_checkpoint, save_checkpoint
from worker.nas.evaluation.datasets import DatasetSplits, load_dataset
from worker.nas.evaluation.metrics import (
    count_flops,
    count_params,
    efficiency_metrics,
    peak_memory_mb,
    reset_peak_memory,
)
from worker.nas.evaluation.ort_latency import ort_latency_metrics
from worker.nas.evaluation.proxies import zero_cost_metrics
from worker.nas.evaluation.trainer import TrainConfig, Trainer, pick_device
from worker.nas.spaces.recipe import apply_recipe
from worker.nas.spec import SearchSpec
from worker.nas.types import Genome, Result

log = logging.getLogger(__name__)

Report = Callable[[int, dict[str, float]], None]
ShouldStop = Callable[[int, dict[str, float]], bool]
PROXY_BATCH = 64  # inputs the zero-cost proxies see (NASWOT's kernel is PROXY_BATCH x PROXY_BATCH)


@dataclass
class EvalOutcome:
    result: Result
    checkpoint: str | None = None
    epochs_done: int = 0
    curve: list[dict[str, float]] = field(default_factory=list)
    inherited_tensors: int = 0


def checkpoint_name(key: str) -> str:
    """A filesystem-safe, stable file name for a canonical key."""
    return hashlib.sha1(key.encode()).hexdigest()[:16] + ".ckpt"


class TrainingEvaluator:
    def __init__(
        self,
        spec: SearchSpec,
        space: Any,
        data_dir: str | Path | None = None,
        artefact_dir: str | Path | None = None,
        device: str | torch.device | None = None,
        *,
        objective: Any = None,
        splits: DatasetSplits | None = None,
    ) -> None:
        self.spec = spec
        self.space = space
        self.device = pick_device(device)
        self.artefact_dir = Path(artefact_dir) if artefact_dir else None
        self.splits = splits or load_dataset(spec.dataset, data_dir, seed=spec.seed)
        if objective is None:
            from worker.nas.objectives import Objective

            objective = Objective.from_spec(spec)
        self.objective = objective
        # Low-fidelity search may train on a share of the training split (validation stays whole).
        n = max(1, int(len(self.splits.y_train) * spec.training.data_fraction))
        self.x_train, self.y_train = self.splits.x_train[:n], self.splits.y_train[:n]

    def evaluate(
        self,
        genome: Genome,
        report: Report = lambda epoch, metrics: None,
        *,
        epochs: int | None = None,
        resume: str | Path | None = None,
        init_from: str | Path | None = None,
        should_stop: ShouldStop | None = None,
        max_seconds: float | None = None,
        progress: str | Path | None = None,
    ) -> EvalOutcome:
        """Train up to `epochs` (default: the spec's), from `resume` (a checkpoint) or `init_from` weights.

        `progress`: where this job keeps its state after every epoch it goes on from. If the file is there
        when the job starts (an earlier attempt of the same job was lost), training continues from it. The
        caller removes it once the job's outcome is recorded; a file that does not load is ignored.
        """
        metrics: dict[str, float] = {}
        trainer: Trainer | None = None
        inherited = 0
        spec = apply_recipe(self.spec, genome)  # a searched recipe: this candidate's own values
        try:
            torch.manual_seed(self.spec.seed)  # same initialisation for the same genome and seed
            model = self.space.build(genome)
            # Known before training, so a failed candidate still shows its size.
            metrics.update(
                params=float(count_params(model)), flops=float(count_flops(model, self.splits.input_shape))
            )
            if self.spec.training.zero_cost_proxies:  # of the fresh network, before any inherited weights
                k = min(PROXY_BATCH, len(self.x_train))
                metrics.update(
                    zero_cost_metrics(model, self.x_train[:k], self.y_train[:k], self.splits.input_shape)
                )
            if init_from is not None:
                inherited = inherit_weights(model, load_checkpoint(init_from)["model"])
            limit = min(
                x for x in (self.spec.training.max_seconds, max_seconds, float("inf")) if x is not None
            )
            cfg = TrainConfig.from_spec(
                spec.training, seed=self.spec.seed, max_seconds=None if limit == float("inf") else limit
            )
            trainer = Trainer(
                model,
                cfg,
                n_classes=self.splits.n_classes,
                device=self.device,
                augment=self._augment(genome, spec),
            )
            if resume is not None:
                trainer.load_state_dict(load_checkpoint(resume))
            last = min(epochs or cfg.epochs, cfg.epochs)
            continued = _continue_from(trainer, progress, last)
            if continued:
                metrics["continued_from_epoch"] = float(continued)
            reset_peak_memory(self.device)

            def on_epoch(epoch: int, m: dict[str, float]) -> bool:
                report(epoch, m)
                stop = bool(should_stop and should_stop(epoch, m))
                if progress is not None and not stop and epoch < last:
                    save_checkpoint(trainer.state_dict(), progress)
                return stop

            t0 = time.monotonic()
            run = trainer.fit(
                self.x_train,
                self.y_train,
                self.splits.x_val,
                self.splits.y_val,
                until_epoch=epochs,
                on_epoch=on_epoch,
            )
            metrics.update(run.metrics)
            metrics.update(
                epochs=float(run.epochs_done),
                train_seconds=time.monotonic() - t0,
                samples_per_second=run.samples_per_second,
            )
            if inherited:
                metrics["inherited_tensors"] = float(inherited)
            if run.status == "failed":
                return self._failed(run.reason or "training failed", metrics, run.history, run.epochs_done)
            peak = peak_memory_mb(self.device)
            if peak is not None:
                metrics["peak_memory_mb"] = peak
            metrics.update(efficiency_metrics(trainer.model, self.splits.input_shape, self.device))
            deployment = self.spec.deployment
            if deployment.ort_latency:
                metrics.update(
                    ort_latency_metrics(
                        trainer.model, self.splits.input_shape, batch=deployment.batch, device=self.device
                    )
                )
            checkpoint = self._save(genome, trainer)
            fitness = self.objective.fitness(metrics)
            if run.stopped:
                metrics["stopped_early"] = 1.0
            result = Result(status="done", fitness=fitness, metrics=metrics)
            return EvalOutcome(result, checkpoint, run.epochs_done, list(run.history), inherited)
        except Exception as exc:  # noqa: BLE001 - a bad candidate must never stop the search
            last = traceback.extract_tb(exc.__traceback__)[-1]
            reason = f"{type(exc).__name__}: {exc} (at {Path(last.filename).name}:{last.lineno})"
            history = trainer.history if trainer else []
            return self._failed(reason, metrics, history, trainer.epoch if trainer else 0)

    def _augment(self, genome: Genome, spec: SearchSpec) -> Augmenter | None:
        """Augmentation is the final training's, except where the recipe searches it (then the search must
        compare it, so a candidate whose recipe turns it on trains augmented in the search too) or the spec
        asks for it in the search (dataset.augment_in_search)."""
        recipe = genome.get("recipe") or {}
        searched = bool({"augment", "erasing"} & set(recipe))
        if spec.dataset.augment is not True or not (searched or spec.dataset.augment_in_search):
            return None
        from worker.nas.evaluation.final import NO_FLIP

        return Augmenter(
            self.splits.input_shape,
            flip=self.splits.name not in NO_FLIP,
            seed=self.spec.seed,
            device=self.device,
            erasing=spec.dataset.erasing,  # type: ignore[arg-type]
        )

    def _failed(self, reason: str, metrics: dict[str, float], history: list, epochs: int) -> EvalOutcome:
        clean = {k: v for k, v in metrics.items() if isinstance(v, float) and v == v}
        return EvalOutcome(
            Result(status="failed", fitness=None, metrics=clean, error=reason), None, epochs, list(history)
        )

    def _save(self, genome: Genome, trainer: Trainer) -> str | None:
        if self.artefact_dir is None:
            return None
        name = checkpoint_name(self.space.canonical(genome))
        return save_checkpoint(trainer.state_dict(), self.artefact_dir / "checkpoints" / name)


def _continue_from(trainer: Trainer, progress: str | Path | None, last: int) -> int:
    """Load a lost attempt's per-epoch state of this job into `trainer`; the epoch it reached (0: none)."""
    if progress is None or not Path(progress).exists():
        return 0
    try:
        state = load_checkpoint(progress)
        epoch = int(state["epoch"])
    except Exception as exc:  # noqa: BLE001 - an unreadable file: the job starts afresh
        log.warning("ignoring progress checkpoint %s: %s", progress, exc)
        return 0
    if not trainer.epoch < epoch < last:
        return 0  # left by an earlier job of this candidate (e.g. before a promotion), not by this one
    trainer.load_state_dict(state)
    return epoch
