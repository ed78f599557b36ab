"""`nasboard bench tabular --out FILE / --publish`: the finished run as one JSON document
(backend/api/benchmark_schemas.BenchmarkRunIn), written to a file or posted to `POST /api/benchmarks`
with the same client and token as `nasboard submit`."""

from __future__ import annotations

import hashlib
import json
import os
import platform
from datetime import datetime
from pathlib import Path
from typing import Any

from worker.nas.evaluation.cpu_features import cpu_model

RUN_KEYS = (
    "seed",
    "queries",
    "failed",
    "best_arch",
    "best_fitness",
    "best_report",
    "hypervolume_ratio",
    "seconds",
    "curves",
)


def machine() -> dict[str, Any]:
    return {
        "cpu": cpu_model()[:200],
        "cores": os.cpu_count(),
        "platform": platform.platform()[:200],
        "python": platform.python_version(),
    }


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def build_document(
    out: dict[str, Any],
    *,
    table_path: str,
    rows: int,
    space: str,
    arch_column: str,
    name: str,
    started_at: datetime,
    finished_at: datetime,
) -> dict[str, Any]:
    """The stored document of one run of `run_tabular_bench` (its `out`), validated as the API will."""
    from backend.api.benchmark_schemas import BenchmarkRunIn

    hv = out.get("hypervolume")
    document = {
        "name": name,
        "table": {"file": Path(table_path).name, "rows": rows, "sha256": file_sha256(table_path)},
        "space": space,
        "arch_column": arch_column,
        "report_column": out["report_column"],
        "objectives": out["objectives"],
        "strategy": out["strategy"],
        "strategy_options": out["strategy_options"],
        "budget": out["budget"],
        "repeats": out["repeats"],
        "seed": out["seed"],
        "hv_reference": hv["reference"] if hv else None,
        "hv_true_front": hv["true_front"] if hv else None,
        "machine": machine(),
        "started_at": started_at.isoformat(),
        "finished_at": finished_at.isoformat(),
        "seconds": out["seconds"],
        "runs": [{k: run.get(k) for k in RUN_KEYS} for run in out["runs"]],
    }
    return BenchmarkRunIn.model_validate(document).model_dump(mode="json")


def write_document(document: dict[str, Any], path: str) -> None:
    Path(path).write_text(json.dumps(document, indent=1) + "\n")


def publish(document: dict[str, Any], url: str, token: str | None) -> dict[str, Any]:
    """POST the document; returns `{id, url}`. ClientError with the server's answer when refused."""
    from backend.cli.client import ClientError, _json_or_fail, _request
    from backend.cli.specfile import format_field_errors

    response = _request("POST", f"{url}/api/benchmarks", token, json=document)
    if response.status_code == 422:
        lines = format_field_errors(response.json()["detail"]).split("\n", 1)[1]
        raise ClientError(f"the server refused the run (HTTP 422):\n{lines}")
    return _json_or_fail(response)
