"""The service on PostgreSQL + Redis with real Celery worker processes, driven over HTTP."""

from __future__ import annotations

from pathlib import Path

import pytest
from service_harness import (
    clean_env,
    free_port,
    nasboard,
    processes,
    run_search_over_http,
    wait_healthy,
)

pytestmark = pytest.mark.integration


def test_search_over_http_completes_on_postgres_and_redis_workers(
    postgres_url: str, redis_url: str, tmp_path: Path
) -> None:
    port = free_port()
    env = clean_env(
        NASBOARD_DATABASE_URL=postgres_url,
        NASBOARD_BROKER_URL=redis_url,
        NASBOARD_DATA_DIR=str(tmp_path / "data"),
    )
    cmds = [
        nasboard("api", "--port", str(port)),
        nasboard("worker", "--queues", "search", "--concurrency", "1", "--name", "search", "--gpus", "none"),
        nasboard(
            "worker",
            "--queues",
            "train",
            "--concurrency",
            "2",
            "--name",
            "train",
            "--gpus",
            "none",
            "--torch-threads",
            "1",
        ),
    ]
    with processes(cmds, env, tmp_path) as procs:
        base = f"http://127.0.0.1:{port}"
        wait_healthy(base, procs, tmp_path)
        search = run_search_over_http(base, tmp_path)
    assert search["best"]["fitness"] > 0.1  # above chance on 10 classes
