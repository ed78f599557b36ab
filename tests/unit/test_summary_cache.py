"""The API's summary micro-cache: one database read per search and change counter, shared by pollers."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import pytest

from backend.api.summary_cache import SummaryCache
from backend.db import repository

_CREATED = "2026-12-05T00:00:00"  # any value: a search is known by its id and creation time


def test_concurrent_polls_share_one_summary_read(monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[int] = []

    def slow_summary(session: object, search_id: int, counts: object = None) -> dict[str, int]:
        reads.append(search_id)
        time.sleep(0.2)  # long enough that every poller below arrives while it runs
        return {"n_candidates": 7}

    monkeypatch.setattr(repository, "search_summary", slow_summary)
    monkeypatch.setattr(repository, "candidate_statuses_after", lambda s, i, after: [])
    cache = SummaryCache(ttl_seconds=60.0)
    search = SimpleNamespace(id=3, created_at=_CREATED, next_seq=41)
    results: list[dict[str, int]] = []
    threads = [threading.Thread(target=lambda: results.append(cache.summary(None, search))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert reads == [3] and cache.computed == 1
    assert results == [{"n_candidates": 7}] * 8


def test_a_new_change_counter_reads_the_summary_again(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        repository, "search_summary", lambda session, search_id, counts=None: {"seq_seen": True}
    )
    monkeypatch.setattr(repository, "candidate_statuses_after", lambda s, i, after: [])
    cache = SummaryCache(ttl_seconds=60.0)
    cache.summary(None, SimpleNamespace(id=3, created_at=_CREATED, next_seq=41))
    cache.summary(None, SimpleNamespace(id=3, created_at=_CREATED, next_seq=41))
    cache.summary(None, SimpleNamespace(id=3, created_at=_CREATED, next_seq=42))
    assert cache.computed == 2
