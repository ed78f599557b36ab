"""Change notifications: Redis pub/sub wakes a listener; embedded (no Redis) the listener polls."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from services import service_missing

from backend.events import ChangeListener, publish_change
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
        async with ChangeListener(1, settings) as listener:
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
        async with ChangeListener(7, settings) as listener:
            assert listener.pubsub
            await asyncio.to_thread(publish_change, settings, 8)  # another search: no wake-up
            other = await listener.wait(0.3)
            await asyncio.to_thread(publish_change, settings, 7, 42)
            mine = await listener.wait(2.0)
            return other, mine

    other, mine = asyncio.run(scenario())
    assert other is False and mine is True
