"""Where a local search (`worker.nas.runner`) stores what happens: the database for `nasboard search
--local` (backend.db_sink), memory in unit tests and benchmarks. It is the lifecycle's `TrialStore` plus
the events only a driver sees (a job started, an epoch, the search's end)."""

from __future__ import annotations

from typing import Any, Protocol

from worker.nas.lifecycle import Trial, TrialStore
from worker.nas.types import Metrics, Result


class SearchSink(TrialStore, Protocol):
    def started(self, candidate_id: int) -> None: ...

    def epoch(self, candidate_id: int, epoch: int, metrics: Metrics) -> None:
        """One point of the learning curve (train_loss, val_loss, val_accuracy, val_f1, seconds ...)."""

    def progress(self, state: dict[str, Any], best_id: int | None, done: int = 0) -> None:
        """After each event: the lifecycle's (small) state, the current best, candidates finished."""

    def search_finished(
        self, status: str, summary: dict[str, Any], files: dict[str, str] | None = None
    ) -> None:
        """The end: status, summary, and the exported files of `summary['best']['candidate_id']`."""


class MemorySink:
    """In-memory sink for tests and for benchmark runs that need no storage."""

    def __init__(self) -> None:
        self.candidates: dict[int, dict[str, Any]] = {}
        self.state: dict[str, Any] | None = None
        self.best_id: int | None = None
        self.finished: tuple[str, dict[str, Any]] | None = None

    def insert(self, trial: Trial) -> int:
        cid = len(self.candidates) + 1
        self.candidates[cid] = {
            "genome": trial.genome,
            "canonical": trial.key,
            "origin": trial.origin,
            "curve": [],
        }
        self._copy(cid, trial)
        return cid

    def update(self, trial: Trial) -> None:
        self._copy(trial.cid, trial)

    def _copy(self, cid: int, trial: Trial) -> None:
        result = trial.result or Result(status="failed", error="not trained yet")
        self.candidates[cid].update(
            status=trial.status, result=result, rung=trial.rung, start_rung=trial.start_rung, told=trial.told
        )

    def started(self, candidate_id: int) -> None:
        self.candidates[candidate_id]["status"] = "training"

    def epoch(self, candidate_id: int, epoch: int, metrics: Metrics) -> None:
        self.candidates[candidate_id]["curve"].append({"epoch": epoch, **metrics})

    def progress(self, state: dict[str, Any], best_id: int | None, done: int = 0) -> None:
        self.state, self.best_id = state, best_id

    def search_finished(
        self, status: str, summary: dict[str, Any], files: dict[str, str] | None = None
    ) -> None:
        self.finished = (status, summary)
