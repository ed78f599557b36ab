"""A whole training worker (Celery main process and its pool child) SIGKILLed mid-candidate: nothing is
redelivered (the broker would wait its 6 h visibility timeout), so the candidate's lease runs out, the
coordinator's sweeper requeues it, and a fresh worker finishes the search without duplicates. The same
for `nasboard up` SIGKILLed and started again (its embedded broker never redelivers)."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from service_harness import clean_env, free_port, logs, nasboard, processes, wait_healthy

pytestmark = pytest.mark.integration

LEASE_S = 8
SPEC = {
    "name": "lease-sweep",
    "space": {"type": "layers"},
    "strategy": {"type": "random"},
    "dataset": {"name": "digits"},
    "training": {"epochs": 4, "batch_size": 32},  # killed after its first epoch
    "budget": {"max_candidates": 2},
    "parallelism": 1,
    "final": {"top_k": 0},
    "seed": 3,
}


def _kill_when_training(
    settings: Any, search_id: int, kill: Callable[[], None], log_dir: Path
) -> tuple[int, float]:
    """Wait until the first candidate trains and has reported an epoch, then `kill`; (its id, when)."""
    from backend.db import repository as repo
    from backend.db.session import session_scope

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with session_scope(settings) as s:
            cands, _ = repo.candidates_after(s, search_id, 0, 10)
            curve = repo.candidate_curve(s, cands[0].id) if cands else []
        if cands and cands[0].status == "training" and curve:
            kill()
            return cands[0].id, time.monotonic()
        time.sleep(0.2)
    raise AssertionError(f"candidate never reached training\n{logs(log_dir)}")


def _status_when_ended(settings: Any, search_id: int, until: float) -> str | None:
    """Poll the search until it ends or `until` (monotonic) passes; its last status."""
    from backend.db import repository as repo
    from backend.db.session import session_scope

    status = None
    while time.monotonic() < until:
        with session_scope(settings) as s:
            status = repo.get_search(s, search_id).status
        if status in ("completed", "failed", "cancelled"):
            break
        time.sleep(0.3)
    return status


def test_killed_training_worker_loses_its_lease_and_a_fresh_worker_completes_the_search(
    postgres_url: str, redis_url: str, tmp_path: Path
) -> None:
    from backend.db import repository as repo
    from backend.db.migrate import upgrade_to_head
    from backend.db.session import session_scope
    from backend.settings import Settings
    from worker.celery_app import make_celery

    settings = Settings(database_url=postgres_url, broker_url=redis_url, data_dir=tmp_path / "d")
    env = clean_env(
        NASBOARD_DATABASE_URL=postgres_url,
        NASBOARD_BROKER_URL=redis_url,
        NASBOARD_DATA_DIR=str(tmp_path / "d"),
        NASBOARD_LEASE_SECONDS=str(LEASE_S),
    )
    upgrade_to_head(settings)
    with session_scope(settings, write=True) as s:
        search_id = repo.create_search(s, SPEC, SPEC["name"]).id
    train = nasboard(
        "worker", "--queues", "train", "--name", "train", "--gpus", "none", "--torch-threads", "1"
    )
    search = nasboard("worker", "--queues", "search", "--name", "search", "--gpus", "none")
    (tmp_path / "fresh").mkdir()
    with processes([search, train], env, tmp_path) as procs:
        make_celery(settings).send_task(
            "nasboard.advance_search", args=[search_id], kwargs={"kick": True}, queue="search"
        )

        def kill_worker() -> None:
            os.killpg(procs[1].pid, signal.SIGKILL)  # the worker's main process and its children
            procs[1].wait(timeout=10)

        victim, killed_at = _kill_when_training(settings, search_id, kill_worker, tmp_path)
        with session_scope(settings) as s:
            held = repo.get_candidate(s, victim)
            assert held.status == "training" and held.attempt == 1  # nobody took it over at once
            dead_worker = held.worker
        # No other process is left to sweep: the coordinator's periodic sweep must requeue it.
        requeued = False
        while not requeued and time.monotonic() < killed_at + LEASE_S + 20:
            time.sleep(0.3)
            with session_scope(settings) as s:
                requeued = repo.get_candidate(s, victim).status == "queued"
        assert requeued, f"the lost candidate was not requeued\n{logs(tmp_path)}"

        with processes([train], env, tmp_path / "fresh"):
            status = _status_when_ended(settings, search_id, killed_at + LEASE_S + 60)
            elapsed = time.monotonic() - killed_at
    assert status == "completed", (
        f"search {status} {elapsed:.0f} s after the kill\n{logs(tmp_path)}\n{logs(tmp_path / 'fresh')}"
    )
    with session_scope(settings) as s:
        cands, _ = repo.candidates_after(s, search_id, 0, 100)
        curve = repo.candidate_curve(s, victim)
    assert len(cands) == 2 and len({c.canonical for c in cands}) == 2
    assert {c.status for c in cands} <= {"done", "failed"} and all(c.lease_expires_at is None for c in cands)
    redone = next(c for c in cands if c.id == victim)
    assert redone.status == "done" and redone.attempt == 2 and redone.worker != dead_worker
    assert [p["epoch"] for p in curve] == list(range(1, 5))
    other = next(c for c in cands if c.id != victim)
    assert other.attempt == 1  # its holder lived: never requeued


def test_nasboard_up_killed_mid_candidate_and_restarted_completes_the_search(tmp_path: Path) -> None:
    from backend.db import repository as repo
    from backend.db.session import session_scope
    from backend.settings import Settings

    data_dir, port = tmp_path / "data", free_port()
    settings = Settings(data_dir=data_dir)
    env = clean_env(NASBOARD_LEASE_SECONDS=str(LEASE_S))
    up = nasboard("up", "--data-dir", str(data_dir), "--port", str(port), "--workers", "1")
    base = f"http://127.0.0.1:{port}"
    (tmp_path / "restart").mkdir()
    with processes([up], env, tmp_path) as procs:
        wait_healthy(base, procs, tmp_path, timeout=120)
        r = httpx.post(f"{base}/api/searches", json=SPEC, timeout=10)
        assert r.status_code == 201, r.text
        search_id = r.json()["id"]

        def kill_up() -> None:
            os.killpg(procs[0].pid, signal.SIGKILL)  # `up`, the API and every worker at once
            procs[0].wait(timeout=10)

        victim, killed_at = _kill_when_training(settings, search_id, kill_up, tmp_path)

    with processes([up], env, tmp_path / "restart"):
        # Generous: the restart itself (three processes importing torch, on a busy CI machine) comes on top
        # of the lease. What matters is that it completes, where it used to stay `training` forever.
        status = _status_when_ended(settings, search_id, killed_at + LEASE_S + 180)
    elapsed = time.monotonic() - killed_at
    assert status == "completed", (
        f"search {status} {elapsed:.0f} s after the kill\n{logs(tmp_path)}\n{logs(tmp_path / 'restart')}"
    )
    with session_scope(settings) as s:
        cands, _ = repo.candidates_after(s, search_id, 0, 100)
    assert len(cands) == 2 and len({c.canonical for c in cands}) == 2
    assert {c.status for c in cands} <= {"done", "failed"}
    assert next(c for c in cands if c.id == victim).attempt == 2


def _children(pid: int) -> list[int]:
    import subprocess

    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def _train_worker_of(up_pid: int) -> int:
    """The `worker --queues train` process that `nasboard up` started."""
    for pid in _children(up_pid):
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        if b"worker" in cmdline and b"train" in cmdline:
            return int(pid)
    raise AssertionError("no training worker under nasboard up")


def test_training_worker_of_nasboard_up_killed_is_restarted_and_the_search_completes(tmp_path: Path) -> None:
    # `up` keeps running: its supervisor starts the worker again, the sweeper requeues the lost candidate.
    from backend.db import repository as repo
    from backend.db.session import session_scope
    from backend.settings import Settings

    data_dir, port = tmp_path / "data", free_port()
    settings = Settings(data_dir=data_dir)
    env = clean_env(NASBOARD_LEASE_SECONDS=str(LEASE_S))
    up = nasboard("up", "--data-dir", str(data_dir), "--port", str(port), "--workers", "1")
    base = f"http://127.0.0.1:{port}"
    with processes([up], env, tmp_path) as procs:
        wait_healthy(base, procs, tmp_path, timeout=120)
        r = httpx.post(f"{base}/api/searches", json=SPEC, timeout=10)
        assert r.status_code == 201, r.text
        search_id = r.json()["id"]

        def kill_train_worker() -> None:
            worker = _train_worker_of(procs[0].pid)
            for pid in [worker, *_children(worker)]:  # the worker's main process and its pool child
                os.kill(pid, signal.SIGKILL)

        victim, killed_at = _kill_when_training(settings, search_id, kill_train_worker, tmp_path)
        status = _status_when_ended(settings, search_id, killed_at + LEASE_S + 120)
        assert procs[0].poll() is None, "nasboard up stopped instead of restarting its worker"
        assert httpx.get(f"{base}/healthz", timeout=10).status_code == 200
    assert status == "completed", f"search {status}\n{logs(tmp_path)}"
    with session_scope(settings) as s:
        cands, _ = repo.candidates_after(s, search_id, 0, 100)
    assert len(cands) == 2 and len({c.canonical for c in cands}) == 2
    assert {c.status for c in cands} <= {"done", "failed"}
    assert next(c for c in cands if c.id == victim).attempt == 2
