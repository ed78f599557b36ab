"""Change notifications for live views (SSE).

With Redis configured (`redis_url`), writers publish the search id on a per-search channel after each
commit and readers block on that channel instead of polling. Embedded (no Redis), publishing does
nothing and `wait_for_change` simply sleeps the polling interval: readers then poll the database.
The message only wakes readers up; what changed is always read from the database by cursor.
"""

from __future__ import annotations

import asyncio
import logging
from functools import lru_cache
from typing import Any

from backend.settings import Settings, get_settings

log = logging.getLogger(__name__)
POLL_INTERVAL_S = 0.1


def channel(search_id: int) -> str:
    return f"nasboard:search:{search_id}"


@lru_cache(maxsize=4)
def _client(url: str) -> Any:
    import redis

    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)


def publish_change(settings: Settings | None, search_id: int, seq: int | None = None) -> None:
    """Wake up live readers of a search. Never raises: a lost notification only delays a poller."""
    settings = settings or get_settings()
    if not settings.redis_url:
        return
    try:
        _client(settings.redis_url).publish(channel(search_id), str(seq if seq is not None else ""))
    except Exception as exc:  # the database stays the source of truth
        log.warning("could not publish change of search %s: %s", search_id, exc)


class ChangeListener:
    """Waits for changes of one search: `async with ChangeListener(id) as w: await w.wait(timeout)`."""

    def __init__(self, search_id: int, settings: Settings | None = None) -> None:
        self.search_id = search_id
        self.settings = settings or get_settings()
        self._pubsub: Any = None
        self._redis: Any = None

    async def __aenter__(self) -> ChangeListener:
        if self.settings.redis_url:
            try:
                import redis.asyncio as aioredis

                self._redis = aioredis.Redis.from_url(self.settings.redis_url)
                self._pubsub = self._redis.pubsub()
                await self._pubsub.subscribe(channel(self.search_id))
            except Exception as exc:  # fall back to polling rather than failing the stream
                log.warning("redis pub/sub unavailable, polling instead: %s", exc)
                await self._close()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._close()

    async def _close(self) -> None:
        if self._pubsub is not None:
            try:
                await self._pubsub.aclose()
                await self._redis.aclose()
            except Exception:
                pass
        self._pubsub = self._redis = None

    @property
    def pubsub(self) -> bool:
        return self._pubsub is not None

    async def wait(self, timeout: float) -> bool:
        """Return True when a change may have happened (always True after a poll interval when embedded)."""
        if self._pubsub is None:
            await asyncio.sleep(min(timeout, POLL_INTERVAL_S))
            return True
        try:
            msg = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=timeout)
        except Exception as exc:
            log.warning("redis pub/sub failed, polling instead: %s", exc)
            await self._close()
            return True
        return msg is not None
