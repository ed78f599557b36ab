"""A SearchSink on the database, so a local run (`nasboard search --local`) is stored exactly like a
service run (the same repository writes as the coordinator's) and the dashboard shows it the same way.
Each event is its own short transaction."""

from __future__ import annotations

import math
import os
from typing import Any

from backend.db import repository as repo
from backend.db.session import session_scope
from backend.events import publish_change
from backend.settings import Settings
from worker.nas.lifecycle import Trial
from worker.nas.types import Metrics

_SEARCH_STATUS = {"done": "completed", "completed": "completed", "failed": "failed", "cancelled": "cancelled"}


def _finite(metrics: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in metrics.items() if not (isinstance(v, float) and not math.isfinite(v))}


class DatabaseSink:
    def __init__(self, search_id: int, settings: Settings, max_candidates: int = 1) -> None:
        self.search_id, self.settings, self.max_candidates = search_id, settings, max_candidates
        with session_scope(settings, write=True) as s:
            repo.start_search(s, search_id)
            # This process drives the search: the service's sweeper must not advance it (worker.sweeper).
            repo.update_summary(s, search_id, {"executor": "local"})

    def _changed(self) -> None:
        publish_change(self.settings, self.search_id)

    def insert(self, trial: Trial) -> int:
        with session_scope(self.settings, write=True) as s:
            cid = repo.insert_trial(s, self.search_id, trial)
        self._changed()
        return cid

    def update(self, trial: Trial) -> None:
        with session_scope(self.settings, write=True) as s:
            repo.update_trial(s, trial)
        self._changed()

    def started(self, candidate_id: int) -> None:
        with session_scope(self.settings, write=True) as s:
            repo.mark_training(s, candidate_id, f"local:{os.getpid()}")
        self._changed()

    def epoch(self, candidate_id: int, epoch: int, metrics: Metrics) -> None:
        with session_scope(self.settings, write=True) as s:
            repo.add_curve_point(s, candidate_id, epoch, _finite(metrics))
            repo.touch_candidate(s, candidate_id)
        self._changed()

    def progress(self, state: dict[str, Any], best_id: int | None, done: int = 0) -> None:
        with session_scope(self.settings, write=True) as s:
            repo.save_strategy_state(s, self.search_id, repo.json_safe(state))
            progress = min(1.0, done / max(1, self.max_candidates))
            repo.set_search_progress(s, self.search_id, best_id, progress, state.get("stop_reason"))
        self._changed()

    def search_finished(
        self, status: str, summary: dict[str, Any], files: dict[str, str] | None = None
    ) -> None:
        summary = repo.json_safe(summary)
        best = (summary.get("best") or {}).get("candidate_id")
        with session_scope(self.settings, write=True) as s:
            for fmt, path in (files or {}).items():
                if best and path and os.path.exists(path):
                    repo.add_artefact(s, best, fmt, path, os.path.getsize(path))
            repo.finish_search(
                s,
                self.search_id,
                _SEARCH_STATUS.get(status, "failed"),
                error=summary.get("error"),
                summary=summary,
            )
        self._changed()
