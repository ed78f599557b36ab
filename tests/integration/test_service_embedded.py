"""`nasboard up` with nothing else running: SQLite database and broker under the data directory."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx
import pytest
from service_harness import (
    SEARCH_SPEC,
    clean_env,
    free_port,
    logs,
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
        # The training recipe searched too: each candidate trains with its own, the label shows it.
        training = {
            **SEARCH_SPEC["training"],
            "lr": {"log_uniform": [1e-3, 3e-2]},
            "batch_size": {"choices": [32, 64]},
        }
        search = run_search_over_http(base, tmp_path, spec={**SEARCH_SPEC, "training": training})
        items = httpx.get(f"{base}/api/searches/{search['id']}/candidates", timeout=10).json()["items"]
        assert (
            all("lr=" in c["label"] for c in items) and len({c["genome"]["recipe"]["lr"] for c in items}) > 1
        )
        assert "lr=" in search["result"]["label"]
        # What Ctrl-C / `kill` does: `up` alone gets the signal and must stop everything it started.
        procs[0].send_signal(signal.SIGTERM)
        assert procs[0].wait(timeout=30) == 0
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and _group_alive(procs[0].pid):
            time.sleep(0.2)
        assert not _group_alive(procs[0].pid), f"processes left behind by `nasboard up`\n{logs(tmp_path)}"
    assert (data_dir / "nasboard.db").exists() and (data_dir / "broker.db").exists()


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False
