"""Shared set-up for the API tests: an app on a migrated SQLite file, a recording dispatcher, seeding."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from backend.app import create_app
from backend.db import repository
from backend.db.migrate import upgrade_to_head
from backend.db.session import session_scope
from backend.settings import Settings

NB201_SPEC: dict[str, Any] = {
    "name": "api-test",
    "space": {"type": "nb201"},
    "strategy": {"type": "regularized-evolution", "population_size": 4, "sample_size": 2},
    "budget": {"max_candidates": 10},
}


@dataclass
class FakeDispatcher:
    """Records what the API would have enqueued."""

    calls: list[tuple[str, int]] = field(default_factory=list)
    fail: bool = False

    def start(self, search_id: int) -> None:
        if self.fail:
            raise ConnectionError("broker down")
        self.calls.append(("start", search_id))

    def control(self, search_id: int, action: str) -> None:
        self.calls.append((action, search_id))


@dataclass
class Api:
    client: TestClient
    dispatcher: FakeDispatcher
    settings: Settings


def make_api(tmp_path: Path, frontend_dir: Path | None = None, **settings_fields: Any) -> Api:
    extra = {"frontend_dir": frontend_dir, **settings_fields} if frontend_dir else settings_fields
    # TestClient sends `Host: testserver`; live_server is reached as 127.0.0.1.
    extra = {"allowed_hosts": "testserver,localhost,127.0.0.1,::1", **extra}
    settings = Settings(data_dir=tmp_path / "data", broker_url="memory://", **extra)
    upgrade_to_head(settings)
    dispatcher = FakeDispatcher()
    return Api(TestClient(create_app(settings, dispatcher)), dispatcher, settings)


PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def postgres_reachable() -> bool:
    from sqlalchemy import create_engine

    try:
        with create_engine(PG_ADMIN, connect_args={"connect_timeout": 2}).connect():
            return True
    except Exception:
        return False


@contextmanager
def api_on(db: str, tmp_path: Path) -> Iterator[Api]:
    """`make_api` on SQLite, or on a fresh PostgreSQL database dropped afterwards (skips if unreachable)."""
    import os

    from services import service_missing
    from sqlalchemy import create_engine, text

    from backend.db.session import get_engine

    if db == "sqlite":
        yield make_api(tmp_path)
        return
    if not postgres_reachable():
        service_missing("PostgreSQL not reachable at 127.0.0.1:5432; the API ran on SQLite only")
    name = f"nasboard_api_{os.getpid()}_{tmp_path.name}"[:63].lower().replace("-", "_")
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    try:
        yield make_api(tmp_path, database_url=url)
    finally:
        get_engine(url).dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def nb201_genomes(n: int, seed: int = 0) -> list[tuple[dict[str, Any], str, dict[str, Any] | None]]:
    from worker.nas.spaces.nb201 import NB201Space

    space, rng, out, seen = NB201Space(), random.Random(seed), [], set()
    while len(out) < n:
        genome = space.sample(rng)
        key = space.canonical(genome)
        if key not in seen:
            seen.add(key)
            out.append((genome, key, {"operator": "sample"}))
    return out


def seed_search(settings: Settings, spec: dict[str, Any] | None = None, n: int = 3) -> tuple[int, list[int]]:
    """A running search with `n` queued candidates; returns (search id, candidate ids)."""
    with session_scope(settings, write=True) as s:
        search = repository.create_search(s, spec or NB201_SPEC, "seeded")
        repository.start_search(s, search.id)
        cands = repository.add_candidates(s, search.id, nb201_genomes(n))
        return search.id, [c.id for c in cands]


def finish(
    settings: Settings,
    candidate_id: int,
    accuracy: float,
    params: float = 1e5,
    epochs: int = 2,
    **extra: float,
) -> None:
    """Train-like history for one candidate: started, `epochs` curve points, done with metrics."""
    with session_scope(settings, write=True) as s:
        repository.mark_training(s, candidate_id, worker="test-worker")
    with session_scope(settings, write=True) as s:
        for epoch in range(1, epochs + 1):
            point = {
                "train_loss": 1.0 / epoch,
                "val_loss": 1.1 / epoch,
                "val_accuracy": accuracy * epoch / epochs,
            }
            repository.add_curve_point(s, candidate_id, epoch, {**point, "val_f1": accuracy, "seconds": 0.5})
        metrics = {"val_accuracy": accuracy, "params": params, "flops": params * 100, **extra}
        cand = repository.finish_candidate(s, candidate_id, "done", fitness=accuracy, metrics=metrics)
        # What the coordinator's next step does: the lifecycle's best and progress on the search.
        search = repository.get_search(s, cand.search_id)
        best = s.get(type(cand), search.best_candidate_id) if search.best_candidate_id else None
        best_id = cand.id if best is None or (best.fitness or 0) < accuracy else best.id
        counts = repository.candidate_counts(s, cand.search_id)
        progress = min(1.0, (counts["done"] + counts["failed"]) / search.spec["budget"]["max_candidates"])
        repository.set_search_progress(s, cand.search_id, best_id, progress, None)


@contextmanager
def live_server(api: Api) -> Iterator[str]:
    """Serve the app with uvicorn on a free loopback port in a thread; yields the base URL."""
    import socket
    import threading
    import time

    import uvicorn

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    app = api.client.app
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start within 10 s")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
