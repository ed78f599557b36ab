"""Failures by reason: failed candidates grouped by their error with numbers and ids ignored."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from api_support import Api, api_on, finish, seed_search

from backend.api import failures
from backend.api.failures import NO_REASON, group_failures, normalise_reason
from backend.db import repository
from backend.db.session import session_scope
from backend.settings import Settings


@pytest.fixture(params=["sqlite", "postgres"])
def api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Api]:
    with api_on(request.param, tmp_path) as api:
        yield api


def fail(settings: Settings, candidate_id: int, error: str | None) -> None:
    with session_scope(settings, write=True) as s:
        repository.mark_training(s, candidate_id, worker="w")
    with session_scope(settings, write=True) as s:
        repository.finish_candidate(s, candidate_id, "failed", error=error)


# --- the rule ---------------------------------------------------------------------------------------------
def test_errors_that_differ_only_in_numbers_have_one_reason() -> None:
    a = normalise_reason("time limit of 60 s reached after 12.45 s")
    assert a == normalise_reason("time limit of 60 s reached after 13.1 s")
    assert a == "time limit of <n> s reached after <n> s"
    assert normalise_reason("CUDA out of memory. Tried to allocate 2.00 GiB") == normalise_reason(
        "CUDA out of memory. Tried to allocate 1,024 GiB"
    )


def test_ids_and_addresses_are_ignored_but_words_are_kept() -> None:
    one = normalise_reason("worker 3f2a9c1e-0b7d-4c55-9e21-6a0f5d2b8c47 lost <object at 0x7f3a2c>")
    other = normalise_reason("worker 0d9e8f7a-1111-4222-8333-944455556666 lost <object at 0x10ab>")
    assert one == other == "worker <id> lost <object at <id>>"
    assert normalise_reason("ValueError: bad shape") != normalise_reason("TypeError: bad shape")


def test_whitespace_is_collapsed_and_a_long_error_shortened() -> None:
    assert normalise_reason("  RuntimeError:\n   boom \t here ") == "RuntimeError: boom here"
    long = normalise_reason("Traceback: " + "frame " * 200)
    assert len(long) == failures.MAX_REASON_CHARS and long.endswith("…")


def test_a_missing_or_empty_error_has_its_own_reason() -> None:
    assert normalise_reason(None) == normalise_reason("  ") == NO_REASON


def test_groups_are_largest_first_with_the_newest_ids_and_the_whole_count(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(failures, "MAX_IDS_PER_GROUP", 2)
    newest_first = [(9, "oom 3 GiB"), (8, "timeout 1.5 s"), (7, "oom 2 GiB"), (6, "oom 1 GiB"), (5, None)]
    assert group_failures(newest_first) == [
        {"reason": "oom <n> GiB", "count": 3, "candidate_ids": [9, 7], "example": "oom 3 GiB"},
        {"reason": NO_REASON, "count": 1, "candidate_ids": [5], "example": None},
        {"reason": "timeout <n> s", "count": 1, "candidate_ids": [8], "example": "timeout 1.5 s"},
    ]


# --- the endpoint -----------------------------------------------------------------------------------------
def test_failures_endpoint_groups_failed_candidates_by_reason(api: Api) -> None:
    search_id, (c1, c2, c3, c4, _queued) = seed_search(api.settings, n=5)
    fail(api.settings, c1, "time limit of 60 s reached after 12.45 s")
    fail(api.settings, c2, "RuntimeError: CUDA out of memory")
    fail(api.settings, c3, "time limit of 60 s reached after 13.1 s")
    finish(api.settings, c4, 0.9)  # done: not a failure
    r = api.client.get(f"/api/searches/{search_id}/failures")
    assert r.status_code == 200, r.text
    assert r.json() == {
        "groups": [
            {
                "reason": "time limit of <n> s reached after <n> s",
                "count": 2,
                "candidate_ids": [c3, c1],
                "example": "time limit of 60 s reached after 13.1 s",
            },
            {
                "reason": "RuntimeError: CUDA out of memory",
                "count": 1,
                "candidate_ids": [c2],
                "example": "RuntimeError: CUDA out of memory",
            },
        ],
        "n_failed": 3,
        "limit": 5000,
        "truncated": False,
    }


def test_failures_read_at_most_limit_newest_and_say_so(api: Api) -> None:
    search_id, cands = seed_search(api.settings, n=3)
    for cid in cands:
        fail(api.settings, cid, f"crash {cid}")
    body = api.client.get(f"/api/searches/{search_id}/failures?limit=2").json()
    assert body["groups"][0]["candidate_ids"] == [cands[2], cands[1]]
    assert (body["n_failed"], body["truncated"]) == (2, True)


def test_failures_of_unknown_search_is_404_and_bad_limit_422(api: Api) -> None:
    assert api.client.get("/api/searches/999/failures").status_code == 404
    search_id, _ = seed_search(api.settings, n=1)
    assert api.client.get(f"/api/searches/{search_id}/failures?limit=0").status_code == 422
