"""Shared by the queue benchmarks: a scratch Postgres database + Redis db (or the embedded broker), real
`nasboard worker` processes, and a search run to completion through them."""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
REDIS_URL = "redis://127.0.0.1:6379/14"


@contextmanager
def service_env(broker: str) -> Iterator[dict[str, str]]:
    """NASBOARD_* settings for a scratch deployment: `redis` (Postgres + Redis) or `embedded` (SQLite)."""
    from sqlalchemy import create_engine, text

    with tempfile.TemporaryDirectory(prefix="nasboard-qbench-") as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("NASBOARD_")}
        env["NASBOARD_DATA_DIR"] = tmp
        if broker == "embedded":
            yield env
            return
        import redis

        client = redis.Redis.from_url(REDIS_URL)
        client.flushdb()
        name = f"nasboard_bench_queue_{os.getpid()}"
        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        env["NASBOARD_DATABASE_URL"] = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
        env["NASBOARD_BROKER_URL"] = REDIS_URL
        try:
            yield env
        finally:
            client.flushdb()
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


def settings_of(env: dict[str, str]) -> Any:
    from backend.settings import Settings

    kwargs = {k[len("NASBOARD_") :].lower(): v for k, v in env.items() if k.startswith("NASBOARD_")}
    return Settings(**kwargs)


@contextmanager
def workers(env: dict[str, str], train_processes: int, log_dir: Path) -> Iterator[None]:
    """One `search` worker and `train_processes` single-process `train` workers (one torch thread each)."""
    cmds = [
        [
            sys.executable,
            "-m",
            "backend.cli.main",
            "worker",
            "--queues",
            "search",
            "--name",
            "search",
            "--gpus",
            "none",
        ]
    ]
    for i in range(train_processes):
        cmds.append(
            [
                sys.executable,
                "-m",
                "backend.cli.main",
                "worker",
                "--queues",
                "train",
                "--name",
                f"train{i}",
                "--gpus",
                "none",
                "--torch-threads",
                "1",
            ]
        )
    procs = []
    try:
        for i, cmd in enumerate(cmds):
            log = open(log_dir / f"worker-{i}.log", "wb")  # noqa: SIM115 - lives as long as the process
            procs.append(
                subprocess.Popen(
                    cmd, env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
                )
            )
        wait_ready(log_dir, len(cmds))
        yield
    finally:
        for p in procs:
            with suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()


def wait_ready(log_dir: Path, n: int, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready = sum(" ready." in p.read_text(errors="replace") for p in log_dir.glob("worker-*.log"))
        if ready >= n:
            return
        time.sleep(0.2)
    raise RuntimeError(f"workers not ready after {timeout} s; logs in {log_dir}")


def run_search(env: dict[str, str], spec: dict[str, Any], timeout: float = 900) -> tuple[int, float]:
    """Store a search, start it through the broker, wait until it ends; return (id, wall seconds)."""
    from backend.db import repository as repo
    from backend.db.migrate import upgrade_to_head
    from backend.db.session import session_scope
    from worker.celery_app import make_celery

    settings = settings_of(env)
    upgrade_to_head(settings)
    with session_scope(settings, write=True) as s:
        search_id = repo.create_search(s, spec, spec["name"]).id
    app = make_celery(settings)  # this deployment's broker, whatever this process saw before
    t0 = time.monotonic()
    app.send_task("nasboard.advance_search", args=[search_id], kwargs={"kick": True}, queue="search")
    while time.monotonic() - t0 < timeout:
        with session_scope(settings) as s:
            status = repo.get_search(s, search_id).status
        if status in ("completed", "failed", "cancelled"):
            if status != "completed":
                raise RuntimeError(f"search {search_id} ended {status}")
            return search_id, time.monotonic() - t0
        time.sleep(0.05)
    raise RuntimeError(f"search {search_id} did not finish within {timeout} s")


def describe(values: list[float]) -> str:
    values = sorted(values)
    p90 = values[min(len(values) - 1, int(round(0.9 * (len(values) - 1))))]
    return (
        f"n={len(values)} median={statistics.median(values):.1f} p90={p90:.1f} "
        f"min={values[0]:.1f} max={values[-1]:.1f}"
    )
