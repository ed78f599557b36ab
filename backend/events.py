"""Change notifications for live views (SSE).

With Redis configured (`redis_url`), writers publish the search id on a per-search channel after each
commit and readers wait for it instead of polling, through one shared connection per API process
(`ChangeHub`). Embedded (no Redis), publishing does
nothing and `wait_for_change` simply sleeps the polling interval: readers then poll the database.
The message only wakes readers up; what changed is always read from the database by cursor.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
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


PATTERN = "nasboard:search:*"
RECONNECT_S = 1.0


def _search_of(channel_name: bytes | str) -> int | None:
    name = channel_name.decode() if isinstance(channel_name, bytes) else channel_name
    tail = name.rsplit(":", 1)[-1]
    return int(tail) if tail.isdigit() else None


class ChangeHub:
    """One Redis pub/sub connection per API process, shared by every open stream (a pattern subscription
    to all searches), instead of one connection per stream on the Redis that is also the broker.

    `async with hub.listen(search_id) as w: await w.wait(timeout)`. Embedded (no Redis), or while Redis is
    away, `wait` polls every POLL_INTERVAL_S; after a reconnect every listener is woken once, since a
    message may have been missed meanwhile.
    """

    def __init__(self, settings: Settings | None = None) -> None:
        self.url = (settings or get_settings()).redis_url
        self._waiters: dict[int, set[asyncio.Event]] = {}
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.connected = False
        self.connections = 0  # connections opened so far (for tests and curiosity)

    def _ensure_running(self) -> None:
        loop = asyncio.get_running_loop()
        if self.url and (self._task is None or self._task.done() or self._loop is not loop):
            self._loop, self.connected = loop, False
            self._task = loop.create_task(self._run(), name="nasboard-change-hub")

    async def _run(self) -> None:
        import redis.asyncio as aioredis

        while True:
            client: Any = None
            pubsub: Any = None
            try:
                client = aioredis.Redis.from_url(self.url, client_name="nasboard-sse")  # type: ignore[arg-type]
                pubsub = client.pubsub()
                await pubsub.psubscribe(PATTERN)
                self.connections += 1
                self.connected = True
                self._wake(None)
                while True:
                    msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=5.0)
                    if msg is not None:
                        self._wake(_search_of(msg.get("channel", b"")))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis away: listeners poll until it is back
                if self.connected:
                    log.warning("redis pub/sub lost, polling until it is back: %s", exc)
            finally:
                self.connected = False
                for closing in (pubsub, client):
                    if closing is not None:
                        with suppress(Exception):
                            await closing.aclose()
            await asyncio.sleep(RECONNECT_S)

    def _wake(self, search_id: int | None) -> None:
        groups = self._waiters.values() if search_id is None else [self._waiters.get(search_id, set())]
        for group in groups:
            for event in group:
                event.set()

    @asynccontextmanager
    async def listen(self, search_id: int) -> AsyncIterator[ChangeWaiter]:
        self._ensure_running()
        event = asyncio.Event()
        group = self._waiters.setdefault(search_id, set())
        group.add(event)
        try:
            yield ChangeWaiter(self, event)
        finally:
            group.discard(event)
            if not group:
                self._waiters.pop(search_id, None)

    async def close(self) -> None:
        """Stop the shared subscription (app shutdown)."""
        task, loop = self._task, self._loop
        self._task = None
        if task is None or task.done():
            return
        if loop is asyncio.get_running_loop():
            task.cancel()
            with suppress(asyncio.CancelledError, Exception):
                await task
        elif loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(task.cancel)


class ChangeWaiter:
    """One stream's view of the hub."""

    def __init__(self, hub: ChangeHub, event: asyncio.Event) -> None:
        self.hub, self.event = hub, event

    @property
    def pubsub(self) -> bool:
        """Whether wake-ups come from Redis now (else `wait` is a poll interval)."""
        return self.hub.connected

    async def wait(self, timeout: float) -> bool:
        """True when a change may have happened (always True after a poll interval when polling)."""
        if not self.hub.connected:
            await asyncio.sleep(min(timeout, POLL_INTERVAL_S))
            return True
        try:
            await asyncio.wait_for(self.event.wait(), timeout)
        except TimeoutError:
            return False
        self.event.clear()
        return True
