"""FastAPI dependencies: settings, database sessions and the queue dispatcher, all swappable in tests.

Everything hangs off `app.state` (set by `create_app`), so a test builds an app with its own settings and
an in-memory dispatcher instead of patching globals.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated, Protocol, TypeVar

import anyio
from fastapi import Depends, Request
from sqlalchemy.orm import Session

from backend.db.session import session_factory
from backend.settings import Settings


class Dispatcher(Protocol):
    """How the API hands work to the queue; the Celery one lives in `worker.tasks`."""

    def start(self, search_id: int) -> None: ...

    def control(self, search_id: int, action: str) -> None: ...


class CeleryDispatcher:
    """Enqueue through `worker.tasks` (imported on first use so the API starts without Celery loaded)."""

    def start(self, search_id: int) -> None:
        from worker.tasks import dispatch_search_start

        dispatch_search_start(search_id)

    def control(self, search_id: int, action: str) -> None:
        # Cancel and pause only change the stored status, which the coordinator obeys; resume needs a
        # fresh step to refill the in-flight candidates.
        from worker import tasks

        control = getattr(tasks, "dispatch_control", None)
        if control is not None:
            control(search_id, action)
        elif action == "resume":
            tasks.dispatch_search_start(search_id)


def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


def get_dispatcher(request: Request) -> Dispatcher:
    return request.app.state.dispatcher


def get_read_session(request: Request) -> Iterator[Session]:
    with session_factory(request.app.state.settings)() as session:
        yield session


def get_write_session(request: Request) -> Iterator[Session]:
    """A session that takes the write lock at BEGIN on SQLite; endpoints commit explicitly."""
    with session_factory(request.app.state.settings, write=True)() as session:
        try:
            yield session
        except BaseException:
            session.rollback()
            raise


T = TypeVar("T")


async def run_read(request: Request, read: Callable[[Session], T]) -> T:
    """Run a whole read (open a session, query, serialise) in one worker-thread hop. The polling
    endpoints use this instead of a session dependency, which costs two more hops per request."""
    factory = session_factory(request.app.state.settings)

    def work() -> T:
        with factory() as session:
            return read(session)

    return await anyio.to_thread.run_sync(work)


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
ReadSession = Annotated[Session, Depends(get_read_session)]
WriteSession = Annotated[Session, Depends(get_write_session)]
DispatcherDep = Annotated[Dispatcher, Depends(get_dispatcher)]
