"""A SearchSink on the database, so a local run (`nasboard search --local`) is stored exactly like a
service run and the dashboard shows it the same way. Each event is its own short transaction."""

from __future__ import annotations

import math
import os
from typing import Any

from backend.db import repository as repo
from backend.db.session import session_scope
from backend.events import publish_change
from backend.settings import Settings
from worker.nas.types import Genome, Metrics, Result

_SEARCH_STATUS = {"done": "completed", "completed": "completed", "failed": "failed", "cancelled": "cancelled"}


def _finite(metrics: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in metrics.items() if not (isinstance(v, float) and not math.isfinite(v))}


class DatabaseSink:
    def __init__(self, search_id: int, settings: Settings) -> None:
        self.search_id = search_id
        self.settings = settings
        with session_scope(settings, write=True) as s:
            repo.start_search(s, search_id)

    def _changed(self) -> None:
        publish_change(self.settings, self.search_id)

    def candidate_created(
        self, genome: Genome, canonical: str, *, origin: dict[str, Any] | None = None
    ) -> int:
        with session_scope(self.settings, write=True) as s:
            added = repo.add_candidates(s, self.search_id, [(genome, canonical, repo.json_safe(origin))])
            cid = added[0].id if added else repo.candidate_by_canonical(s, self.search_id, canonical).id
        self._changed()
        return cid

    def candidate_started(self, candidate_id: int) -> None:
        with session_scope(self.settings, write=True) as s:
            repo.mark_training(s, candidate_id, f"local:{os.getpid()}")
        self._changed()

    def epoch(self, candidate_id: int, epoch: int, metrics: Metrics) -> None:
        with session_scope(self.settings, write=True) as s:
            repo.add_curve_point(s, candidate_id, epoch, _finite(metrics))
            repo.touch_candidate(s, candidate_id)
        self._changed()

    def candidate_finished(
        self, candidate_id: int, result: Result, artefacts: dict[str, str] | None = None
    ) -> None:
        files = {
            k: (str(p), os.path.getsize(p)) for k, p in (artefacts or {}).items() if p and os.path.exists(p)
        }
        with session_scope(self.settings, write=True) as s:
            repo.finish_candidate(
                s,
                candidate_id,
                "done" if result.ok else "failed",
                fitness=result.fitness if result.ok else None,
                metrics=_finite(result.metrics),
                error=None if result.ok else (result.error or "failed"),
                artefacts=files,
            )
        self._changed()

    def strategy_state(self, state: dict[str, Any]) -> None:
        with session_scope(self.settings, write=True) as s:
            repo.save_strategy_state(s, self.search_id, repo.json_safe(state))

    def search_finished(self, status: str, summary: dict[str, Any]) -> None:
        summary = repo.json_safe(summary)
        best = summary.get("best") or {}
        files = {
            k: (p, os.path.getsize(p))
            for k, p in (summary.get("artefacts") or {}).items()
            if p and os.path.exists(p)
        }
        with session_scope(self.settings, write=True) as s:
            if best.get("candidate_id") and files:
                for fmt, (path, size) in files.items():
                    repo.add_artefact(s, best["candidate_id"], fmt, path, size)
            repo.finish_search(
                s,
                self.search_id,
                _SEARCH_STATUS.get(status, "failed"),
                error=summary.get("error"),
                summary=summary,
            )
        self._changed()
