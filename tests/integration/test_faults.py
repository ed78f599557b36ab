"""Faults outside the workers, on PostgreSQL + Redis with real Celery worker processes: the API SIGKILLed,
the coordinator killed as it takes the last step, the broker down for longer than the candidates in flight
take, the workers' database connections terminated. Each time the search completes with the requested
distinct candidates, none left `training`. (Killed workers and `nasboard up`: test_lease_sweep.py.)"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from service_harness import clean_env, free_port, logs, nasboard, processes, wait_healthy
from test_lease_sweep import LEASE_S, SPEC, _kill_when_training, _status_when_ended

pytestmark = pytest.mark.integration


def _workers() -> list[list[str]]:
    return [
        nasboard("worker", "--queues", "search", "--name", "search", "--gpus", "none"),
        nasboard("worker", "--queues", "train", "--name", "train", "--gpus", "none", "--torch-threads", "1"),
    ]


def _env(postgres_url: str, broker: str, data_dir: Path) -> dict[str, str]:
    return clean_env(
        NASBOARD_DATABASE_URL=postgres_url,
        NASBOARD_BROKER_URL=broker,
        NASBOARD_DATA_DIR=str(data_dir),
        NASBOARD_LEASE_SECONDS=str(LEASE_S),
    )


def _settings(postgres_url: str, broker: str, data_dir: Path) -> Any:
    from backend.db.migrate import upgrade_to_head
    from backend.settings import Settings

    settings = Settings(database_url=postgres_url, broker_url=broker, data_dir=data_dir)
    upgrade_to_head(settings)
    return settings


def _start(settings: Any, spec: dict[str, Any] = SPEC) -> int:
    """Store the search and publish its first step, as the API's submit does."""
    from backend.db import repository as repo
    from backend.db.session import session_scope
    from worker.celery_app import make_celery

    with session_scope(settings, write=True) as s:
        search_id = repo.create_search(s, spec, spec["name"]).id
    make_celery(settings).send_task(
        "nasboard.advance_search", args=[search_id], kwargs={"kick": True}, queue="search"
    )
    return search_id


def _assert_complete_without_duplicates(settings: Any, search_id: int) -> list[Any]:
    from backend.db import repository as repo
    from backend.db.session import session_scope

    with session_scope(settings) as s:
        cands, _ = repo.candidates_after(s, search_id, 0, 100)
    assert len(cands) == SPEC["budget"]["max_candidates"]
    assert len({c.canonical for c in cands}) == len(cands)
    assert {c.status for c in cands} <= {"done", "failed"} and all(c.lease_expires_at is None for c in cands)
    return cands


def test_api_killed_mid_search_the_workers_finish_it_and_a_restarted_api_serves_the_result(
    postgres_url: str, redis_url: str, tmp_path: Path
) -> None:
    # The API is not in the search loop: losing it loses no work, and a new one answers for everything.
    settings = _settings(postgres_url, redis_url, tmp_path / "d")
    env = _env(postgres_url, redis_url, tmp_path / "d")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    api = nasboard("api", "--port", str(port))
    (tmp_path / "api2").mkdir()
    with processes(_workers(), env, tmp_path / "api2") as workers, processes([api], env, tmp_path) as procs:
        wait_healthy(base, procs, tmp_path)
        r = httpx.post(f"{base}/api/searches", json=SPEC, timeout=10)
        assert r.status_code == 201, r.text
        search_id = r.json()["id"]

        def kill_api() -> None:
            os.killpg(procs[0].pid, signal.SIGKILL)
            procs[0].wait(timeout=10)

        _, killed_at = _kill_when_training(settings, search_id, kill_api, tmp_path)
        status = _status_when_ended(settings, search_id, killed_at + LEASE_S + 60)
        assert status == "completed", f"search {status}\n{logs(tmp_path)}\n{logs(tmp_path / 'api2')}"
        assert all(w.poll() is None for w in workers)
        with processes([api], env, tmp_path / "api2") as again:
            wait_healthy(base, again, tmp_path / "api2")
            served = httpx.get(f"{base}/api/searches/{search_id}", timeout=10).json()
    cands = _assert_complete_without_duplicates(settings, search_id)
    assert served["status"] == "completed" and served["n_candidates"] == len(cands)
    assert all(c.attempt == 1 for c in cands)  # nothing was retrained


def _redis_server(port: int) -> list[str]:
    # No persistence: what it held when killed is gone, as after a crash of a cache-configured Redis.
    return ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no", "--bind", "127.0.0.1"]


def _wait_redis(port: int, up: bool, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ping = subprocess.run(
            ["redis-cli", "-p", str(port), "ping"], capture_output=True, text=True, timeout=5
        ).stdout
        if ("PONG" in ping) == up:
            return
        time.sleep(0.2)
    raise AssertionError(f"redis on port {port} never became {'up' if up else 'down'}")


def test_redis_down_longer_than_the_candidates_in_flight_the_search_completes_once_it_returns(
    postgres_url: str, tmp_path: Path
) -> None:
    # The step after the in-flight candidate is published while the broker is away: the worker's publish
    # retries give up, the message is lost, and when Redis returns empty the sweeper re-advances the search.
    from backend.db import repository as repo
    from backend.db.session import session_scope

    redis_port = free_port()
    broker = f"redis://127.0.0.1:{redis_port}/0"
    settings = _settings(postgres_url, broker, tmp_path / "d")
    env = _env(postgres_url, broker, tmp_path / "d")
    (tmp_path / "redis2").mkdir()
    with processes([_redis_server(redis_port)], env, tmp_path) as redis_proc:
        _wait_redis(redis_port, up=True)
        with processes(_workers(), env, tmp_path / "redis2") as workers:
            search_id = _start(settings)

            def kill_redis() -> None:
                os.killpg(redis_proc[0].pid, signal.SIGKILL)
                redis_proc[0].wait(timeout=10)

            victim, _ = _kill_when_training(settings, search_id, kill_redis, tmp_path)
            _wait_redis(redis_port, up=False)
            # Down until the candidate in flight has finished, and then past the publish retries (~45 s).
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                with session_scope(settings) as s:
                    if repo.get_candidate(s, victim).status in ("done", "failed"):
                        break
                time.sleep(0.3)
            finished_at = time.monotonic()
            while time.monotonic() < finished_at + 50:
                time.sleep(1)
            with session_scope(settings) as s:
                stuck = repo.get_search(s, search_id).status
            with processes([_redis_server(redis_port)], env, tmp_path / "redis2"):
                _wait_redis(redis_port, up=True)
                back_at = time.monotonic()
                status = _status_when_ended(settings, search_id, back_at + LEASE_S + 60)
                assert all(w.poll() is None for w in workers), "a worker exited while the broker was away"
    assert stuck == "running"  # nothing could move it on while the broker was away
    assert status == "completed", (
        f"search {status} {time.monotonic() - back_at:.0f} s after Redis returned\n"
        f"{logs(tmp_path)}\n{logs(tmp_path / 'redis2')}"
    )
    cands = _assert_complete_without_duplicates(settings, search_id)
    assert next(c for c in cands if c.id == victim).status == "done"  # its result was kept


def _terminate_connections(postgres_url: str) -> int:
    """pg_terminate_backend on every other session of the test database: the workers' pooled connections."""
    from sqlalchemy import create_engine, text

    engine = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            return len(
                conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                        " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                ).all()
            )
    finally:
        engine.dispose()


def test_workers_database_connections_terminated_mid_candidate_the_search_completes_without_retraining(
    postgres_url: str, redis_url: str, tmp_path: Path
) -> None:
    settings = _settings(postgres_url, redis_url, tmp_path / "d")
    env = _env(postgres_url, redis_url, tmp_path / "d")
    terminated: list[int] = []
    with processes(_workers(), env, tmp_path):
        search_id = _start(settings)

        def cut_connections() -> None:
            terminated.append(_terminate_connections(postgres_url))

        victim, killed_at = _kill_when_training(settings, search_id, cut_connections, tmp_path)
        status = _status_when_ended(settings, search_id, killed_at + LEASE_S + 60)
    assert terminated and terminated[0] >= 1, "no worker connection was open to terminate"
    assert status == "completed", f"search {status}\n{logs(tmp_path)}"
    cands = _assert_complete_without_duplicates(settings, search_id)
    redone = next(c for c in cands if c.id == victim)
    assert redone.status == "done" and redone.attempt == 1, (redone.status, redone.attempt, redone.error)


def test_coordinator_killed_with_the_last_step_a_new_coordinator_completes_the_search(
    postgres_url: str, redis_url: str, tmp_path: Path
) -> None:
    # The coordinator is frozen while the last candidate trains, so the step its result publishes goes to
    # it (or waits in the queue), and then SIGKILLed: a new coordinator's sweep (at start, then every half
    # lease) gives the search its step again, or it takes the waiting message.
    from backend.db import repository as repo
    from backend.db.session import session_scope

    settings = _settings(postgres_url, redis_url, tmp_path / "d")
    env = _env(postgres_url, redis_url, tmp_path / "d")
    search_cmd, train_cmd = _workers()
    (tmp_path / "new").mkdir()

    def last_candidate(*statuses: str) -> int | None:
        """The search's last candidate, once it exists and is in one of `statuses`."""
        with session_scope(settings) as s:
            cands, _ = repo.candidates_after(s, search_id, 0, 10)
        if len(cands) < SPEC["budget"]["max_candidates"]:
            return None
        last = max(cands, key=lambda c: c.id)
        return last.id if last.status in statuses else None

    with (
        processes([train_cmd], env, tmp_path / "new") as train,
        processes([search_cmd], env, tmp_path) as coord,
    ):
        search_id = _start(settings)
        deadline = time.monotonic() + 180
        while last_candidate("training") is None and time.monotonic() < deadline:
            time.sleep(0.2)
        victim = last_candidate("training")
        assert victim is not None, f"the last candidate never trained\n{logs(tmp_path)}"
        os.killpg(coord[0].pid, signal.SIGSTOP)
        while last_candidate("done", "failed") is None:
            assert time.monotonic() < deadline, f"the last candidate never finished\n{logs(tmp_path)}"
            time.sleep(0.2)
        time.sleep(1.0)  # its result's step is published to the frozen coordinator's queue
        os.killpg(coord[0].pid, signal.SIGKILL)
        coord[0].wait(timeout=10)
        killed_at = time.monotonic()
        with session_scope(settings) as s:
            left_running = repo.get_search(s, search_id).status
        with processes([search_cmd], env, tmp_path / "new"):
            status = _status_when_ended(settings, search_id, killed_at + LEASE_S + 60)
        assert train[0].poll() is None
    assert left_running == "running"  # the step had not run: the search was waiting for it
    assert status == "completed", f"search {status}\n{logs(tmp_path)}\n{logs(tmp_path / 'new')}"
    _assert_complete_without_duplicates(settings, search_id)
