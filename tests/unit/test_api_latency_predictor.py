"""GET /api/searches/{id}/latency-predictor: predicted against measured latency of a search's candidates,
with the engine's error summary (worker/nas/latency_error.py)."""

from __future__ import annotations

import pytest
from api_support import finish, make_api, seed_search

from backend.db import repository
from backend.db.session import session_scope
from worker.nas.latency_error import error_summary


def test_candidates_with_both_figures_are_the_points_and_the_summary_is_the_engines(tmp_path):
    api = make_api(tmp_path)
    search_id, ids = seed_search(api.settings, n=5)
    figures = [(1.0, 1.05), (2.0, 2.5), (3.0, 2.95), (4.0, 4.2)]
    for cid, (pred, measured) in zip(ids[:4], figures, strict=True):
        finish(api.settings, cid, 0.5, latency_ms_pred=pred, latency_ms_ort=measured)
    finish(api.settings, ids[4], 0.5, latency_ms_ort=9.0)  # measured, never predicted: not a point
    with session_scope(api.settings, write=True) as s:
        repository.save_strategy_state(s, search_id, {"latency_device_kind": "Some-CPU-ort1.0-cpu-t1"})

    body = api.client.get(f"/api/searches/{search_id}/latency-predictor").json()

    expected = error_summary([p for p, _ in figures], [m for _, m in figures])
    assert body["n"] == 4 and body["within_10pct"] == pytest.approx(0.75)
    assert {k: body[k] for k in expected} == pytest.approx(expected)
    assert body["device_kind"] == "Some-CPU-ort1.0-cpu-t1" and body["tolerance"] == 0.10
    assert body["points"] == [
        {"candidate_id": cid, "predicted": p, "measured": m}
        for cid, (p, m) in zip(ids[:4], figures, strict=True)
    ]


def test_a_search_without_predictions_answers_no_points(tmp_path):
    api = make_api(tmp_path)
    search_id, ids = seed_search(api.settings, n=2)
    finish(api.settings, ids[0], 0.5)
    body = api.client.get(f"/api/searches/{search_id}/latency-predictor").json()
    assert body == {
        "n": 0,
        "within_10pct": None,
        "spearman": None,
        "median_abs_pct_error": None,
        "device_kind": None,
        "tolerance": 0.10,
        "points": [],
    }


def test_an_unknown_search_is_404(tmp_path):
    api = make_api(tmp_path)
    assert api.client.get("/api/searches/999/latency-predictor").status_code == 404
