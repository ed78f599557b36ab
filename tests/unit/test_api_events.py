"""SSE: candidate and search changes stream with `id: <seq>` and resume from Last-Event-ID."""

from __future__ import annotations

import contextlib
import itertools
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_support import Api, finish, live_server, make_api, seed_search
from services import service_missing


@pytest.fixture()
def api(tmp_path: Path) -> Api:
    return make_api(tmp_path)


def iter_events(response: httpx.Response) -> Iterator[dict[str, Any]]:
    """Parse events (ignoring comments and the retry hint) from a streaming response."""
    current: dict[str, Any] = {}
    for line in response.iter_lines():
        if line.startswith(":") or line.startswith("retry:"):
            continue
        if not line:
            if "event" in current:
                yield current
            current = {}
            continue
        key, _, value = line.partition(": ")
        current[key] = json.loads(value) if key == "data" else value


def read_events(response: httpx.Response, count: int) -> list[dict[str, Any]]:
    return list(itertools.islice(iter_events(response), count))


def test_events_stream_candidates_and_search_with_ids_in_order(api: Api) -> None:
    search_id, cands = seed_search(api.settings, n=3)
    with (
        live_server(api) as url,
        httpx.stream("GET", f"{url}/api/searches/{search_id}/events", timeout=10) as r,
    ):
        assert r.headers["content-type"].startswith("text/event-stream")
        events = read_events(r, 4)
    ids = [int(e["id"]) for e in events]
    assert ids == sorted(ids)
    assert [e["data"]["id"] for e in events if e["event"] == "candidate"] == cands
    [search] = [e for e in events if e["event"] == "search"]
    assert search["data"]["status"] == "running" and "spec" not in search["data"]


def test_events_deliver_a_change_committed_after_connecting(api: Api) -> None:
    search_id, cands = seed_search(api.settings, n=2)
    with live_server(api) as url:
        first = httpx.get(f"{url}/api/searches/{search_id}/candidates").json()
        params = {"after": first["next_after"]}
        with httpx.stream("GET", f"{url}/api/searches/{search_id}/events", params=params, timeout=10) as r:
            timer = threading.Timer(0.3, finish, args=(api.settings, cands[1], 0.75))
            timer.start()
            events = []
            # Training start and finish may arrive as one event (the stream sends a row's latest state).
            for event in iter_events(r):
                events.append(event)
                if event["event"] == "search":
                    break
            timer.join()
    done = next(e for e in events if e["event"] == "candidate" and e["data"]["status"] == "done")
    assert events[-1]["data"]["n_done"] == 1
    assert done["data"]["id"] == cands[1] and done["data"]["fitness"] == pytest.approx(0.75)


def test_events_resume_after_last_event_id(api: Api) -> None:
    search_id, cands = seed_search(api.settings, n=3)
    finish(api.settings, cands[0], 0.6)
    with live_server(api) as url:
        with httpx.stream("GET", f"{url}/api/searches/{search_id}/events", timeout=10) as r:
            first = read_events(r, 2)
        resume_from = first[-1]["id"]
        headers = {"Last-Event-ID": resume_from}
        with httpx.stream("GET", f"{url}/api/searches/{search_id}/events", headers=headers, timeout=10) as r:
            rest = read_events(r, 2)
    assert all(int(e["id"]) > int(resume_from) for e in rest)
    seen = {(e["event"], e["data"]["id"]) for e in first + rest}
    assert ("candidate", cands[0]) in seen and ("search", search_id) in seen


def test_events_for_unknown_search_return_404(api: Api) -> None:
    assert api.client.get("/api/searches/77/events").status_code == 404


def test_events_send_heartbeat_comments_when_idle(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    from backend.api import events

    monkeypatch.setattr(events, "HEARTBEAT_SECONDS", 0.3)
    search_id, _ = seed_search(api.settings, n=0)
    with live_server(api) as url:
        params = {"after": 10_000}  # past every change: only heartbeats can come
        with httpx.stream("GET", f"{url}/api/searches/{search_id}/events", params=params, timeout=5) as r:
            lines = r.iter_lines()
            assert next(line for line in lines if line.startswith(":")) == ": heartbeat"


def _redis_up(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except Exception:
        return False


def test_events_wake_on_redis_publish_instead_of_polling(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from backend.api import events
    from backend.events import publish_change

    url = "redis://127.0.0.1:6379/15"
    if not _redis_up(url):
        service_missing("Redis not reachable at 127.0.0.1:6379; the pub/sub wake-up path was not exercised")
    api = make_api(tmp_path, redis_url=url)
    # Only a pub/sub message can wake the stream within the test's timeout now.
    monkeypatch.setattr(events, "SAFETY_POLL_SECONDS", 60.0)
    monkeypatch.setattr(events, "HEARTBEAT_SECONDS", 60.0)
    search_id, cands = seed_search(api.settings, n=1)

    def commit_and_publish() -> None:
        finish(api.settings, cands[0], 0.5)
        publish_change(api.settings, search_id)

    with live_server(api) as base:
        seen = max(
            httpx.get(f"{base}/api/searches/{search_id}").json()["seq"],
            httpx.get(f"{base}/api/searches/{search_id}/candidates").json()["next_after"],
        )
        params = {"after": seen}
        with httpx.stream("GET", f"{base}/api/searches/{search_id}/events", params=params, timeout=8) as r:
            timer = threading.Timer(0.5, commit_and_publish)
            timer.start()
            events_seen = read_events(r, 2)
            timer.join()
    assert [(e["event"], e["data"]["status"]) for e in events_seen] == [
        ("candidate", "done"),
        ("search", "running"),
    ]


def test_events_streams_of_one_search_share_change_counter_reads(api: Api) -> None:
    search_id, _ = seed_search(api.settings, n=2)
    heads = api.client.app.state.search_heads
    url_path = f"/api/searches/{search_id}/events"
    with live_server(api) as url, contextlib.ExitStack() as stack:
        for _ in range(5):
            stack.enter_context(httpx.stream("GET", url + url_path, params={"after": 10_000}, timeout=10))
        time.sleep(1.5)  # 5 idle streams polling every 100 ms: ~75 reads unshared, ~15 shared
        assert 3 <= heads.reads <= 25


def test_events_still_deliver_changes_with_shared_counter_reads(api: Api) -> None:
    search_id, cands = seed_search(api.settings, n=2)
    with live_server(api) as url, contextlib.ExitStack() as stack:
        first = httpx.get(f"{url}/api/searches/{search_id}/candidates").json()
        params = {"after": first["next_after"]}
        streams = [
            stack.enter_context(
                httpx.stream("GET", f"{url}/api/searches/{search_id}/events", params=params, timeout=10)
            )
            for _ in range(2)
        ]
        timer = threading.Timer(0.3, finish, args=(api.settings, cands[0], 0.4))
        timer.start()
        done = [
            next(e for e in iter_events(r) if e["event"] == "candidate" and e["data"]["status"] == "done")
            for r in streams
        ]
        timer.join()
    assert [e["data"]["id"] for e in done] == [cands[0], cands[0]]


def test_event_streams_per_client_are_limited_and_a_closed_one_frees_its_slot(tmp_path: Path) -> None:
    api = make_api(tmp_path, max_streams_per_client=2)
    search_id, _ = seed_search(api.settings, n=1)
    with live_server(api) as url, httpx.Client(timeout=10) as client:
        events = f"{url}/api/searches/{search_id}/events"
        with contextlib.ExitStack() as stack:
            readers = []  # kept: a dropped line iterator closes its response
            for _ in range(2):
                r = stack.enter_context(client.stream("GET", events))
                assert r.status_code == 200
                readers.append(r.iter_lines())
                next(readers[-1])  # the stream has started
            refused = client.get(events)
            assert refused.status_code == 429
            assert "max_streams_per_client is 2" in refused.json()["detail"]
            assert "NASBOARD_MAX_STREAMS_PER_CLIENT" in refused.json()["detail"]
        # Both closed: the server notices the disconnects and gives the slots back.
        deadline = time.monotonic() + 10
        while api.client.app.state.stream_slots.open and time.monotonic() < deadline:
            time.sleep(0.05)
        assert api.client.app.state.stream_slots.open == {}
        with client.stream("GET", events) as again:
            assert again.status_code == 200


def test_streams_at_one_cursor_after_one_change_share_one_change_read() -> None:
    import asyncio

    from backend.api.heads import ChangeReads

    calls: list[tuple[int, int]] = []

    def read(search_id: int, cursor: int) -> tuple[list[str], int]:
        calls.append((search_id, cursor))
        if cursor == 99:
            raise RuntimeError("database away")
        time.sleep(0.05)  # long enough for every stream to ask while it runs
        return [f"event after {cursor}"], cursor + 1

    async def scenario() -> None:
        reads = ChangeReads(read)
        answers = await asyncio.gather(*(reads.changes(1, 7, head=8) for _ in range(10)))
        assert answers == [(["event after 7"], 8)] * 10 and calls == [(1, 7)]
        await reads.changes(1, 8, head=9)  # the next change: a read of its own
        await reads.changes(2, 7, head=8)  # another search
        assert calls == [(1, 7), (1, 8), (2, 7)]
        for _ in range(2):  # a failed read is not kept: the next ask reads again
            with pytest.raises(RuntimeError):
                await reads.changes(1, 99, head=100)
        assert calls[-2:] == [(1, 99), (1, 99)]

    asyncio.run(scenario())
