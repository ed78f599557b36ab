"""What makes the SSE loop read the database again: a timer, or a Redis pub/sub message.

The publisher side lives in `backend.events` (H5): whoever commits a change publishes on the search's
channel. A wake-up carries no data; the loop always reads the changes from the database past its cursor.
"""

from __future__ import annotations

import logging
from typing import Any

import anyio

from backend.settings import Settings

log = logging.getLogger(__name__)
POLL_FALLBACK_SECONDS = 0.1


def channel_name(search_id: int) -> str:
    try:
        from backend import events

        name = getattr(events, "channel", None) or getattr(events, "channel_for", None)
        if callable(name):
            return str(name(search_id))
    except ImportError:
        pass
    return f"nasboard:search:{search_id}"


class Waker:
    """Sleep until the next poll."""

    def __init__(self, poll_seconds: float) -> None:
        self.poll_seconds = poll_seconds

    async def __aenter__(self) -> Waker:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        return None

    async def wait(self, timeout: float) -> None:
        await anyio.sleep(timeout)


class RedisWaker(Waker):
    """Wake on a message on the search's channel; poll slowly as a safety net."""

    def __init__(self, url: str, search_id: int, safety_seconds: float) -> None:
        super().__init__(safety_seconds)
        self.url, self.channel = url, channel_name(search_id)
        self._client: Any = None
        self._pubsub: Any = None

    async def __aenter__(self) -> Waker:
        import redis.asyncio as aioredis

        self._client = aioredis.Redis.from_url(self.url, socket_connect_timeout=2)
        try:
            self._pubsub = self._client.pubsub(ignore_subscribe_messages=True)
            await self._pubsub.subscribe(self.channel)
        except Exception as exc:  # Redis down: the stream still works, by polling
            log.warning("SSE: Redis pub/sub unavailable (%s); polling the database instead", exc)
            self._pubsub, self.poll_seconds = None, POLL_FALLBACK_SECONDS
        return self

    async def __aexit__(self, *exc: Any) -> None:
        try:
            if self._pubsub is not None:
                await self._pubsub.aclose()
        finally:
            await self._client.aclose()

    async def wait(self, timeout: float) -> None:
        if self._pubsub is None:
            await anyio.sleep(timeout)
            return
        message = await self._pubsub.get_message(timeout=timeout)
        # Drain a burst (one commit may publish several times) so it costs one database read.
        while message is not None:
            message = await self._pubsub.get_message(timeout=0)


def make_waker(settings: Settings, search_id: int, poll_seconds: float, safety_seconds: float) -> Waker:
    if settings.redis_url:
        return RedisWaker(settings.redis_url, search_id, safety_seconds)
    return Waker(poll_seconds)
