"""The service commands: argument checks and what they set up, without starting long-running processes."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from backend.cli.main import main
from backend.settings import get_settings

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _restore_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """`--data-dir` sets NASBOARD_DATA_DIR for the process; undo it after each test."""
    monkeypatch.setenv("NASBOARD_DATA_DIR", "")  # recorded first: delenv alone would not undo a later set
    monkeypatch.delenv("NASBOARD_DATA_DIR")
    yield
    get_settings.cache_clear()


def test_worker_rejects_unknown_queue_naming_allowed_ones(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["worker", "--queues", "train,gpu", "--data-dir", str(tmp_path)]) == 2
    assert "--queues: 'train,gpu' is not valid; allowed: train, search" in capsys.readouterr().err


def test_migrate_creates_the_database_under_the_data_dir(tmp_path: Path) -> None:
    assert main(["migrate", "--data-dir", str(tmp_path)]) == 0
    assert (tmp_path / "nasboard.db").exists()


def test_search_rejects_invalid_spec_naming_the_field(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    spec = tmp_path / "bad.json"
    spec.write_text(json.dumps({"dataset": {"name": "imagenet"}}))
    assert main(["search", str(spec), "--local", "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "dataset.name" in err and "fashion-mnist" in err


def test_search_without_local_points_to_submit(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    spec = tmp_path / "ok.yaml"
    spec.write_text("dataset: {name: digits}\n")
    assert main(["search", str(spec)]) == 2
    assert "nasboard submit" in capsys.readouterr().err


def test_export_of_unknown_search_says_so(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["export", "42", "--format", "onnx", "--data-dir", str(tmp_path)]) == 1
    assert "search 42 not found" in capsys.readouterr().err


def test_search_local_stores_the_run_and_exports_the_best(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    import numpy as np
    import onnxruntime as ort
    import torch

    torch.set_num_threads(1)
    spec = tmp_path / "digits.yaml"
    spec.write_text(
        "name: cli-local\nspace: {type: layers}\nstrategy: {type: random}\ndataset: {name: digits}\n"
        "training: {epochs: 1}\nbudget: {max_candidates: 2}\nfinal: {top_k: 1, epochs: 1}\n"
    )
    data = tmp_path / "data"
    assert main(["search", str(spec), "--local", "--json", "--no-progress", "--data-dir", str(data)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["search_id"] == 1 and out["candidates"] == 2
    assert set(out["best"]) == {"genome", "val_accuracy", "test_accuracy", "params", "flops", "latency_ms"}
    onnx_file = tmp_path / "best.onnx"
    assert main(["export", "1", "--format", "onnx", "--out", str(onnx_file), "--data-dir", str(data)]) == 0
    logits = ort.InferenceSession(str(onnx_file)).run(None, {"input": np.zeros((2, 1, 8, 8), np.float32)})[0]
    assert logits.shape == (2, 10)

    from backend.db import repository as repo
    from backend.db.session import session_scope
    from backend.settings import Settings

    with session_scope(Settings(data_dir=data)) as s:
        search = repo.get_search(s, 1)
        assert search.status == "completed"
        cands, _ = repo.candidates_after(s, 1, 0, 10)
        assert all(repo.candidate_curve(s, c.id) for c in cands)


def test_search_local_with_repeats_runs_each_seed_as_one_group(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    import torch

    torch.set_num_threads(1)
    spec = tmp_path / "digits.yaml"
    spec.write_text(
        "name: cli-repeats\nspace: {type: layers}\nstrategy: {type: random}\ndataset: {name: digits}\n"
        "training: {epochs: 1}\nbudget: {max_candidates: 2}\nfinal: {top_k: 1, epochs: 1}\n"
        "seed: 4\nrepeats: 2\n"
    )
    data = tmp_path / "data"
    assert main(["search", str(spec), "--local", "--json", "--no-progress", "--data-dir", str(data)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [(r["search_id"], r["seed"], r["candidates"]) for r in out["searches"]] == [(1, 4, 2), (2, 5, 2)]
    tests = [r["best"]["test_accuracy"] for r in out["searches"]]
    assert out["test_accuracy"]["n"] == 2
    assert out["test_accuracy"]["mean"] == pytest.approx(sum(tests) / 2)

    from backend.db import repository as repo
    from backend.db.session import session_scope
    from backend.settings import Settings

    with session_scope(Settings(data_dir=data)) as s:
        members = repo.group_members(s, [out["group_id"]])[out["group_id"]]
        runs = [(m.id, m.status, m.spec["seed"]) for m in members]
        assert runs == [(1, "completed", 4), (2, "completed", 5)]


def test_worker_starts_one_process_per_gpu_each_seeing_only_its_device(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from backend.cli import service

    started: list[tuple[list[str], dict[str, str]]] = []
    monkeypatch.setattr(service, "_gpu_count", lambda: 2)
    monkeypatch.setattr(service, "_supervise", lambda cmds: started.extend(cmds) or 0)
    monkeypatch.delenv("NASBOARD_WORKER_CHILD", raising=False)
    assert main(["worker", "--queues", "train", "--data-dir", str(tmp_path)]) == 0
    assert [env["CUDA_VISIBLE_DEVICES"] for _, env in started] == ["0", "1"]
    for argv, env in started:
        assert (
            argv[-6:-2] == ["--queues", "train", "--concurrency", "1"] and env["NASBOARD_WORKER_CHILD"] == "1"
        )


def test_api_tells_the_app_its_bound_host_so_auth_auto_sees_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    monkeypatch.setenv("NASBOARD_HOST", "")  # recorded, so the value `api` sets is undone afterwards
    served: dict[str, object] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: served.update(kw, settings=get_settings()))
    assert main(["api", "--host", "0.0.0.0", "--port", "8123", "--data-dir", str(tmp_path)]) == 0
    assert served["host"] == "0.0.0.0" and served["port"] == 8123 and served["workers"] == 1
    assert served["settings"].host == "0.0.0.0" and served["settings"].auth_enabled  # type: ignore[attr-defined]


def test_api_with_several_workers_serves_from_that_many_processes(tmp_path: Path) -> None:
    import socket
    import subprocess
    import sys
    import time

    import httpx

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("NASBOARD_")}
    argv = [sys.executable, "-m", "backend.cli.main", "api", "--port", str(port), "--workers", "2"]
    proc = subprocess.Popen([*argv, "--data-dir", str(tmp_path)], env=env, cwd=REPO, stderr=subprocess.PIPE)
    try:
        deadline, ok = time.monotonic() + 60, False
        while time.monotonic() < deadline and not ok:
            try:
                ok = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
            except httpx.TransportError:
                time.sleep(0.2)
        assert ok, "the API never answered"
        children = subprocess.run(
            ["pgrep", "-P", str(proc.pid)], capture_output=True, text=True
        ).stdout.split()
        assert len(children) >= 2  # uvicorn's supervisor and its two serving processes
    finally:
        proc.terminate()
        proc.wait(timeout=30)
