"""How far a search's latency predictions are from its measured figures (issue 18 item 4): the figures
come from worker/nas/latency_error.py, the same the benchmark reports."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from backend.api.deps import ReadSession
from backend.api.params import SearchId
from backend.api.schemas import NOT_FOUND, LatencyPredictorAnswer
from backend.db import repository
from worker.nas.latency_error import TOLERANCE, error_summary

router = APIRouter(prefix="/api/searches", tags=["searches"])


@router.get("/{search_id}/latency-predictor", response_model=LatencyPredictorAnswer, responses=NOT_FOUND)
def search_latency_predictor(search_id: SearchId, session: ReadSession) -> dict[str, Any]:
    """Predicted (before training) against measured ONNX Runtime batch-1 latency of the search's
    candidates that have both, with the error summary."""
    pairs = repository.latency_pairs(session, search_id)
    state = repository.load_strategy_state(session, search_id) or {}
    summary = error_summary([p for _, p, _ in pairs], [m for _, _, m in pairs])
    return {
        **summary,
        "device_kind": state.get("latency_device_kind"),
        "tolerance": TOLERANCE,
        "points": [{"candidate_id": c, "predicted": p, "measured": m} for c, p, m in pairs],
    }
