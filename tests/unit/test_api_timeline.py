"""Worker timeline: started candidates per worker, busy and idle time, and the queue wait."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from api_support import Api, api_on, finish, seed_search

from backend.api.timeline import Span, queue_wait, worker_summary
from backend.db.models import Candidate, utcnow
from backend.db.session import session_scope
from backend.settings import Settings

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.fixture(params=["sqlite", "postgres"])
def api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Api]:
    with api_on(request.param, tmp_path) as api:
        yield api


def place(settings: Settings, candidate_id: int, **columns: Any) -> None:
    """Set a candidate's columns as a worker's history would have left them (times chosen by the test)."""
    with session_scope(settings, write=True) as s:
        cand = s.get(Candidate, candidate_id)
        assert cand is not None
        for name, value in {"attempt": 1, **columns}.items():
            setattr(cand, name, value)


def ran(settings: Settings, cid: int, worker: str, queued: float, start: float, end: float | None) -> None:
    status = "training" if end is None else "done"
    finished = None if end is None else at(end)
    place(settings, cid, worker=worker, status=status, created_at=at(queued), started_at=at(start))
    place(settings, cid, finished_at=finished)


def seconds(iso: str) -> float:
    return (datetime.fromisoformat(iso.replace("Z", "+00:00")) - T0).total_seconds()


# --- the arithmetic -------------------------------------------------------------------------------------
def test_busy_is_the_union_of_a_workers_jobs_and_idle_the_gaps_inside_its_window() -> None:
    spans = [
        Span("w1", at(0), at(10)),
        Span("w1", at(15), at(25)),
        Span("w2", at(100), at(130)),  # joined late: not idle before its first job
        Span("w2", at(120), at(140)),  # overlaps the one before: counted once
    ]
    assert worker_summary(spans) == [
        {"worker": "w1", "busy_seconds": 20.0, "idle_seconds": 5.0, "candidates": 2},
        {"worker": "w2", "busy_seconds": 40.0, "idle_seconds": 0.0, "candidates": 2},
    ]


def test_a_job_inside_a_longer_one_adds_no_busy_time() -> None:
    [w] = worker_summary([Span("w", at(0), at(60)), Span("w", at(10), at(20)), Span("w", at(70), at(80))])
    assert (w["busy_seconds"], w["idle_seconds"], w["candidates"]) == (70.0, 10.0, 3)


def test_queue_wait_is_median_and_max_and_empty_without_waits() -> None:
    assert queue_wait([2.0, 15.0, 0.0, 20.0]) == {"median_seconds": 8.5, "max_seconds": 20.0, "n": 4}
    assert queue_wait([]) == {"median_seconds": None, "max_seconds": None, "n": 0}


# --- the endpoint ---------------------------------------------------------------------------------------
def test_timeline_lists_started_candidates_with_worker_times_and_queue_wait(api: Api) -> None:
    search_id, (c1, c2, c3, c4, c5) = seed_search(api.settings, n=5)
    ran(api.settings, c1, "w1", queued=-2, start=0, end=10)
    ran(api.settings, c2, "w1", queued=0, start=15, end=25)
    ran(api.settings, c3, "w2", queued=0, start=0, end=30)
    ran(api.settings, c4, "w2", queued=0, start=20, end=40)
    # c5 stays queued: not on the timeline
    r = api.client.get(f"/api/searches/{search_id}/timeline")
    assert r.status_code == 200, r.text
    body = r.json()
    assert [i["candidate_id"] for i in body["items"]] == [c1, c3, c2, c4]  # oldest start first
    first = body["items"][0]
    assert (first["worker"], first["status"], first["attempt"]) == ("w1", "done", 1)
    assert [seconds(first[k]) for k in ("queued_at", "started_at", "finished_at")] == [-2, 0, 10]
    assert first["label"]  # the space's description, as in the candidate table
    assert body["workers"] == [
        {"worker": "w1", "busy_seconds": 20.0, "idle_seconds": 5.0, "candidates": 2},
        {"worker": "w2", "busy_seconds": 40.0, "idle_seconds": 0.0, "candidates": 2},
    ]
    # waits: 2, 15, 0, 20 seconds
    assert body["queue_wait"] == {"median_seconds": 8.5, "max_seconds": 20.0, "n": 4}
    assert (body["truncated"], body["limit"]) == (False, 5000)


def test_a_training_candidate_is_busy_until_the_servers_now(api: Api) -> None:
    search_id, (cid,) = seed_search(api.settings, n=1)
    started = utcnow() - timedelta(seconds=60)
    place(api.settings, cid, worker="w", status="training", started_at=started, created_at=started)
    body = api.client.get(f"/api/searches/{search_id}/timeline").json()
    [item] = body["items"]
    assert item["finished_at"] is None
    [worker] = body["workers"]
    assert 60 <= worker["busy_seconds"] < 120
    assert datetime.fromisoformat(body["now"].replace("Z", "+00:00")) >= started + timedelta(seconds=60)


def test_later_attempts_are_drawn_but_left_out_of_the_queue_wait(api: Api) -> None:
    search_id, (first, retried) = seed_search(api.settings, n=2)
    ran(api.settings, first, "w", queued=0, start=5, end=10)
    ran(api.settings, retried, "w", queued=0, start=300, end=310)
    place(api.settings, retried, attempt=2)  # its wait since the requeue is not known
    body = api.client.get(f"/api/searches/{search_id}/timeline").json()
    assert len(body["items"]) == 2
    assert body["queue_wait"] == {"median_seconds": 5.0, "max_seconds": 5.0, "n": 1}


def test_candidates_no_worker_took_are_not_on_the_timeline(api: Api) -> None:
    search_id, (trained, infeasible, waiting) = seed_search(api.settings, n=3)
    ran(api.settings, trained, "w", queued=0, start=1, end=2)
    # Infeasible from its genome: finished without training, no worker.
    place(api.settings, infeasible, status="infeasible", started_at=at(3), finished_at=at(3))
    # Waiting for a promotion: queued again, the worker of its last rung still on the row.
    place(api.settings, waiting, status="queued", worker="w", started_at=at(4), finished_at=None)
    items = api.client.get(f"/api/searches/{search_id}/timeline").json()["items"]
    assert [i["candidate_id"] for i in items] == [trained]


def test_a_candidate_trained_through_the_repository_appears_with_its_worker(api: Api) -> None:
    search_id, (cid,) = seed_search(api.settings, n=1)
    finish(api.settings, cid, 0.8)
    [item] = api.client.get(f"/api/searches/{search_id}/timeline").json()["items"]
    assert (item["candidate_id"], item["worker"], item["status"]) == (cid, "test-worker", "done")


def test_a_bounded_timeline_keeps_the_latest_started_and_says_so(api: Api) -> None:
    search_id, cands = seed_search(api.settings, n=4)
    for k, cid in enumerate(cands):
        ran(api.settings, cid, "w", queued=0, start=10 * k, end=10 * k + 5)
    body = api.client.get(f"/api/searches/{search_id}/timeline?limit=2").json()
    assert [i["candidate_id"] for i in body["items"]] == cands[2:]
    assert (body["truncated"], body["limit"]) == (True, 2)


def test_timeline_of_unknown_search_is_404_and_bad_limit_422(api: Api) -> None:
    assert api.client.get("/api/searches/999/timeline").status_code == 404
    search_id, _ = seed_search(api.settings, n=1)
    for bad in (0, 5001):
        r = api.client.get(f"/api/searches/{search_id}/timeline?limit={bad}")
        assert r.status_code == 422
        assert r.json()["detail"][0]["field"] == "query.limit"
