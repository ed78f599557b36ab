"""Where a running search reports what happens: the database in the service, memory in unit tests.

The engine's local runner (`worker.nas.runner`) calls these methods; `backend` implements them on the
database so the dashboard shows a local run exactly like a service run.
"""

from __future__ import annotations

from typing import Any, Protocol

from worker.nas.types import Genome, Metrics, Result


class SearchSink(Protocol):
    def candidate_created(
        self, genome: Genome, canonical: str, *, origin: dict[str, Any] | None = None
    ) -> int:
        """Store a queued candidate; return its id. `origin` says how it was made (parent ids, operator)."""

    def candidate_started(self, candidate_id: int) -> None: ...

    def epoch(self, candidate_id: int, epoch: int, metrics: Metrics) -> None:
        """One point of the learning curve (train_loss, val_loss, val_accuracy, val_f1, seconds ...)."""

    def candidate_finished(
        self, candidate_id: int, result: Result, artefacts: dict[str, str] | None = None
    ) -> None:
        """Final status, fitness, metrics (or the failure reason) and paths of stored files."""

    def strategy_state(self, state: dict[str, Any]) -> None: ...

    def search_finished(self, status: str, summary: dict[str, Any]) -> None: ...


class MemorySink:
    """In-memory sink for tests and for `bench` runs that need no storage."""

    def __init__(self) -> None:
        self.candidates: dict[int, dict[str, Any]] = {}
        self.state: dict[str, Any] | None = None
        self.finished: tuple[str, dict[str, Any]] | None = None

    def candidate_created(
        self, genome: Genome, canonical: str, *, origin: dict[str, Any] | None = None
    ) -> int:
        cid = len(self.candidates) + 1
        self.candidates[cid] = {"genome": genome, "canonical": canonical, "status": "queued", "curve": []}
        return cid

    def candidate_started(self, candidate_id: int) -> None:
        self.candidates[candidate_id]["status"] = "training"

    def epoch(self, candidate_id: int, epoch: int, metrics: Metrics) -> None:
        self.candidates[candidate_id]["curve"].append({"epoch": epoch, **metrics})

    def candidate_finished(
        self, candidate_id: int, result: Result, artefacts: dict[str, str] | None = None
    ) -> None:
        c = self.candidates[candidate_id]
        c.update(status=result.status, result=result, artefacts=artefacts or {})

    def strategy_state(self, state: dict[str, Any]) -> None:
        self.state = state

    def search_finished(self, status: str, summary: dict[str, Any]) -> None:
        self.finished = (status, summary)
