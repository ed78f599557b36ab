"""`nasboard up` with nothing else running: SQLite database and broker under the data directory."""

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


def test_nasboard_up_runs_a_search_over_http_with_embedded_defaults(tmp_path: Path) -> None:
    port = free_port()
    data_dir = tmp_path / "data"
    cmd = nasboard("up", "--data-dir", str(data_dir), "--port", str(port), "--workers", "2")
    with processes([cmd], clean_env(), tmp_path) as procs:
        base = f"http://127.0.0.1:{port}"
        wait_healthy(base, procs, tmp_path)
        run_search_over_http(base, tmp_path)
    assert (data_dir / "nasboard.db").exists() and (data_dir / "broker.db").exists()
