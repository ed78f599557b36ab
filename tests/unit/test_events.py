"""Change notifications: Redis pub/sub wakes a listener; embedded (no Redis) the listener polls."""

from __future__ import annotations

import asyncio
import time
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

from services import service_missing

from backend.events import ChangeHub, publish_change
from backend.settings import Settings

REDIS = "redis://127.0.0.1:6379/12"


def _redis_up() -> bool:
    try:
        import redis

        return bool(redis.Redis.from_url(REDIS, socket_connect_timeout=1).ping())
    except Exception:
        return False


def test_embedded_listener_polls_and_publish_is_a_no_op(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert settings.redis_url is None
    publish_change(settings, 1)  # nothing to publish to; must not raise

    async def wait_once() -> tuple[bool, bool, float]:
        async with ChangeHub(settings).listen(1) as listener:
            t0 = time.monotonic()
            woke = await listener.wait(5.0)
            return listener.pubsub, woke, time.monotonic() - t0

    pubsub, woke, waited = asyncio.run(wait_once())
    assert not pubsub and woke and waited < 1.0


def test_redis_publish_wakes_the_listener_of_that_search_only(tmp_path: Path) -> None:
    if not _redis_up():
        service_missing("Redis not reachable at 127.0.0.1:6379")
    settings = Settings(data_dir=tmp_path, broker_url=REDIS)
    assert settings.redis_url == REDIS

    async def scenario() -> tuple[bool, bool]:
        hub = ChangeHub(settings)
        async with hub.listen(7) as listener:
            await _connected(hub, listener)
            await asyncio.to_thread(publish_change, settings, 8)  # another search: no wake-up
            other = await listener.wait(0.3)
            await asyncio.to_thread(publish_change, settings, 7, 42)
            mine = await listener.wait(2.0)
        await hub.close()
        return other, mine

    other, mine = asyncio.run(scenario())
    assert other is False and mine is True


async def _connected(hub: ChangeHub, *waiters: Any, timeout: float = 5.0) -> None:
    """Wait for the subscription, then take the wake-up every listener gets when it is made."""
    deadline = time.monotonic() + timeout
    while not hub.connected and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert hub.connected, "the hub never subscribed"
    await asyncio.gather(*(w.wait(0.5) for w in waiters))


def test_many_listeners_share_one_redis_connection_and_each_wakes_for_its_search(tmp_path: Path) -> None:
    if not _redis_up():
        service_missing("Redis not reachable at 127.0.0.1:6379")
    import redis

    settings = Settings(data_dir=tmp_path, broker_url=REDIS)
    admin = redis.Redis.from_url(REDIS)

    def sse_clients() -> int:
        return sum(1 for c in admin.client_list() if c.get("name") == "nasboard-sse")

    before = sse_clients()

    async def scenario() -> tuple[int, list[bool]]:
        hub = ChangeHub(settings)
        async with AsyncExitStack() as stack:
            waiters = [await stack.enter_async_context(hub.listen(i % 5)) for i in range(200)]
            await _connected(hub, *waiters)
            opened = await asyncio.to_thread(sse_clients)
            await asyncio.to_thread(publish_change, settings, 3)
            woke = await asyncio.gather(*(w.wait(1.0) for w in waiters))
        await hub.close()
        return opened, woke

    opened, woke = asyncio.run(scenario())
    assert opened - before == 1  # 200 streams, one connection
    assert all(woke[i] == (i % 5 == 3) for i in range(200))
