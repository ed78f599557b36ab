"""A table search through the service on PostgreSQL + Redis with real Celery worker processes: every
candidate is a row of a small sparse, conditional CSV the test writes into its own NASBOARD_TABLE_DIR, the
result carries the front as arch ids with a hypervolume ratio, and a table outside that directory is
refused at submit time."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from service_harness import clean_env, free_port, logs, nasboard, processes, wait_healthy
from unit import conditional_table

pytestmark = pytest.mark.integration

BUDGET = 12


def table_spec(path: str) -> dict[str, Any]:
    return {
        "name": "integration-table",
        "dataset": {
            "name": "table",
            "path": path,
            "arch_column": "id",
            "choice_columns": conditional_table.CHOICE_COLUMNS,
        },
        "space": {"type": "categorical"},
        "strategy": {"type": "predictor-ranking"},
        "objectives": [{"metric": "loss", "goal": "minimize"}, {"metric": "latency", "goal": "minimize"}],
        "budget": {"max_candidates": BUDGET},
        "parallelism": 2,
        "seed": 3,
    }


def wait_ended(base: str, search_id: int, log_dir: Path, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        search = httpx.get(f"{base}/api/searches/{search_id}", timeout=10).json()
        if search["status"] in ("completed", "failed", "cancelled"):
            return search
        time.sleep(0.3)  # a poll interval under a deadline, not a wait for something to happen
    raise AssertionError(f"search {search_id} did not end in {timeout} s:\n{logs(log_dir)}")


def test_table_search_over_http_looks_up_every_candidate_and_reports_the_front(
    postgres_url: str, redis_url: str, tmp_path: Path
) -> None:
    table_dir = tmp_path / "tables"
    table_dir.mkdir()
    conditional_table.write(table_dir / "small.csv")
    outside = conditional_table.write(tmp_path / "outside.csv")
    port = free_port()
    env = clean_env(
        NASBOARD_DATABASE_URL=postgres_url,
        NASBOARD_BROKER_URL=redis_url,
        NASBOARD_DATA_DIR=str(tmp_path / "data"),
        NASBOARD_TABLE_DIR=str(table_dir),
    )
    cmds = [
        nasboard("api", "--port", str(port)),
        nasboard("worker", "--queues", "search", "--concurrency", "1", "--name", "search", "--gpus", "none"),
        nasboard("worker", "--queues", "train", "--concurrency", "2", "--name", "train", "--gpus", "none"),
    ]
    with processes(cmds, env, tmp_path) as procs:
        base = f"http://127.0.0.1:{port}"
        wait_healthy(base, procs, tmp_path)

        refused = httpx.post(f"{base}/api/searches", json=table_spec(str(outside)), timeout=10)
        assert refused.status_code == 422, refused.text
        body = refused.json()
        errors = body.get("errors") or body.get("detail")
        assert errors[0]["field"] == "dataset.path", body
        assert "table directory" in errors[0]["message"], body

        created = httpx.post(f"{base}/api/searches", json=table_spec("small.csv"), timeout=10)
        assert created.status_code == 201, created.text
        search = wait_ended(base, created.json()["id"], tmp_path)
        assert search["status"] == "completed", f"{search}\n{logs(tmp_path)}"
        items = httpx.get(
            f"{base}/api/searches/{search['id']}/candidates", params={"after": 0, "limit": 100}, timeout=10
        ).json()["items"]
        details = [httpx.get(f"{base}/api/candidates/{c['id']}", timeout=10).json() for c in items]

    rows = conditional_table.rows()
    by_choices = {tuple(r[c] for c in conditional_table.CHOICE_COLUMNS): r for r in rows}
    assert len(details) == BUDGET
    looked_up = set()
    for cand in details:
        assert cand["status"] == "done", cand
        choices = cand["genome"]["choices"]
        row = by_choices[tuple(choices[c] for c in conditional_table.CHOICE_COLUMNS)]  # a real row
        looked_up.add(row["id"])
        for column in ("loss", "latency", "energy"):
            assert math.isclose(cand["metrics"][column], float(row[column]), rel_tol=1e-9), (column, cand)
    assert len(looked_up) == BUDGET  # no row evaluated twice

    table = search["result"]["table"]
    assert table["rows"] == len(rows) and table["evaluated"] == BUDGET
    assert table["front"] and set(table["front"]) <= looked_up
    assert set(table["front_candidates"]) <= {c["id"] for c in details}
    ratio = table["hypervolume"]["ratio"]
    assert 0 < ratio <= 1, table
