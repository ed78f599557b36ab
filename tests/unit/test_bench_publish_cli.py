"""`nasboard bench tabular --out / --publish` against a live API, and the hint when --table is missing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from api_support import make_api
from bench_support import CHOICES, write_table

from backend.cli.main import main
from backend.db import repository
from backend.db.session import session_scope


def bench_args(table: Path, *extra: str) -> list[str]:
    return [
        "bench", "tabular", "--table", str(table), "--arch-column", "name", "--space", "categorical",
        "--choice-columns", ",".join(CHOICES), "--objective", "val:maximize", "--report-column", "test",
        "--strategy", "random", "--budget", "8", "--repeats", "3", "--json", *extra,
    ]  # fmt: skip


def test_publish_stores_the_run_the_out_file_holds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from api_support import live_server

    api = make_api(tmp_path, auth="required")
    with session_scope(api.settings, write=True) as s:
        token = repository.create_token(s, "bench-cli")
    table, out_file = write_table(tmp_path / "toy.csv"), tmp_path / "run.json"
    with live_server(api) as url:
        args = bench_args(table, "--out", str(out_file), "--publish", "--url", url, "--name", "toy random")
        assert main([*args, "--token", token]) == 0
        captured = capsys.readouterr()
        printed = json.loads(captured.out)  # --json's stdout stays one object
        assert "stored as benchmark run 1" in captured.err and f"{url}/benchmarks?ids=1" in captured.err
        stored = api.client.get("/api/benchmarks/1").json()
        assert stored["document"] == json.loads(out_file.read_text())
        assert stored["name"] == "toy random" and stored["created_by"] == "bench-cli"
        assert [r["best_report"] for r in stored["document"]["runs"]] == [
            r["best_report"] for r in printed["runs"]
        ]
        assert stored["document"]["table"] == {
            "file": "toy.csv",
            "rows": 30,
            "sha256": stored["document"]["table"]["sha256"],
        }
        # without the token the service refuses, and the CLI says how to send one
        assert main(bench_args(table, "--publish", "--url", url, "--token", "")) == 1
        assert "HTTP 401" in capsys.readouterr().err
    assert api.client.get("/api/benchmarks").json()["total"] == 1


def test_unreachable_service_is_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    table = write_table(tmp_path / "toy.csv")
    assert main(bench_args(table, "--publish", "--url", "http://127.0.0.1:9")) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("nasboard bench tabular: error: cannot reach NASBoard at http://127.0.0.1:9")
    assert "\n" not in err


def test_missing_table_says_which_columns_a_table_needs_and_where_to_get_one(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(
        [
            "bench",
            "tabular",
            "--arch-column",
            "arch_str",
            "--objective",
            "acc:maximize",
            "--strategy",
            "random",
        ]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err and "Traceback" not in err
    assert err.startswith("nasboard bench tabular: error: --table is required")
    assert "architecture id column" in err and "docs/tabular-benchmark.md" in err
