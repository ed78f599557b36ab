"""Start and stop real service processes for integration tests, and drive a search over HTTP."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[2]
SEARCH_SPEC: dict[str, Any] = {
    "name": "integration-digits",
    "space": {"type": "layers"},
    "strategy": {"type": "random"},
    "dataset": {"name": "digits"},
    "training": {"epochs": 2, "batch_size": 128},
    "budget": {"max_candidates": 4},
    "parallelism": 2,
    "final": {"top_k": 1, "epochs": 1},
    "seed": 1,
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any NASBOARD_ setting, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NASBOARD_")}
    env.update(extra)
    return env


def nasboard(*args: str) -> list[str]:
    return [sys.executable, "-m", "backend.cli.main", *args]


@contextmanager
def processes(cmds: list[list[str]], env: dict[str, str], log_dir: Path) -> Iterator[list[subprocess.Popen]]:
    """Run commands in their own process groups; always stop every one of them (and their children)."""
    procs: list[subprocess.Popen] = []
    try:
        for i, cmd in enumerate(cmds):
            log = open(log_dir / f"proc-{i}.log", "wb")  # noqa: SIM115 - closed with the process
            procs.append(
                subprocess.Popen(
                    cmd, env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
                )
            )
        yield procs
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for p in procs:
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
            # A Celery pool child may outlive its parent for a moment: sweep the group.
            with suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)


def logs(log_dir: Path) -> str:
    return "\n".join(
        f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in sorted(log_dir.glob("*.log"))
    )


def wait_healthy(base: str, procs: list[subprocess.Popen], log_dir: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in procs):
            raise AssertionError(f"a service process exited early:\n{logs(log_dir)}")
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"API not healthy after {timeout} s:\n{logs(log_dir)}")


def run_search_over_http(
    base: str, log_dir: Path, timeout: float = 150, spec: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Submit the spec (default SEARCH_SPEC), poll until the search ends, check candidates and the ONNX model;
    return the search."""
    import numpy as np
    import onnxruntime as ort

    r = httpx.post(f"{base}/api/searches", json=spec or SEARCH_SPEC, timeout=10)
    assert r.status_code == 201, r.text
    search_id = r.json()["id"]
    deadline = time.monotonic() + timeout
    search: dict[str, Any] = {}
    while time.monotonic() < deadline:
        search = httpx.get(f"{base}/api/searches/{search_id}", timeout=10).json()
        if search["status"] in ("completed", "failed", "cancelled"):
            break
        time.sleep(0.5)
    assert search.get("status") == "completed", f"search ended as {search}\n{logs(log_dir)}"
    assert search["n_candidates"] == 4 and search["n_done"] + search["n_failed"] == 4
    items = httpx.get(
        f"{base}/api/searches/{search_id}/candidates", params={"after": 0, "limit": 100}
    ).json()["items"]
    assert len(items) == 4
    for item in items:
        detail = httpx.get(f"{base}/api/candidates/{item['id']}", timeout=10).json()
        assert detail["curve"], f"candidate {item['id']} has no curve points"
        if detail["status"] == "done":
            # eager and ONNX Runtime latency (deployment.ort_latency is on by default)
            want = {"val_accuracy", "params", "flops", "latency_ms", "latency_ms_ort", "latency_ms_ort_b64"}
            assert want <= set(detail["metrics"]), detail["metrics"]
        else:
            assert detail["error"], f"failed candidate {item['id']} has no reason"
    best_id = search["best"]["candidate_id"]
    # What the search handed back: the final stage's pick, tested once, in the API and `nasboard status`.
    result = search["result"]
    assert result["candidate_id"] == best_id and result["label"], result
    assert 0.0 < result["test_accuracy"] <= 1.0 and result["final_epochs"] == 1, result
    assert "onnx" in result["artefacts"] and result["wall_seconds"] >= result["search_seconds"] > 0, result
    status = subprocess.run(
        nasboard("status", str(search_id), "--url", base),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert f"result: test accuracy {result['test_accuracy']:.4f}: candidate {best_id}" in status.stdout, (
        status.stdout + status.stderr
    )
    model = httpx.get(f"{base}/api/candidates/{best_id}/model", params={"format": "onnx"}, timeout=30)
    assert model.status_code == 200, model.text
    onnx_path = log_dir / "best.onnx"
    onnx_path.write_bytes(model.content)
    session = ort.InferenceSession(str(onnx_path))
    logits = session.run(
        None, {"input": np.random.default_rng(0).normal(size=(5, 1, 8, 8)).astype(np.float32)}
    )[0]
    assert logits.shape == (5, 10) and np.isfinite(logits).all()
    # The int8 model (deployment.int8, on by default): figures in the result, file and card downloadable.
    assert {"onnx_int8", "card_int8"} <= set(result["artefacts"]), result
    assert 0.0 < result["int8_accuracy"] <= 1.0 and result["int8_speedup"] > 0 and result["cpu_features"], (
        result
    )
    card = httpx.get(f"{base}/api/candidates/{best_id}/model", params={"format": "card_int8"}, timeout=30)
    assert card.status_code == 200 and card.json()["precision"] == "int8", card.text
    assert card.json()["metrics"]["int8_accuracy"] == result["int8_accuracy"]
    int8 = httpx.get(f"{base}/api/candidates/{best_id}/model", params={"format": "onnx_int8"}, timeout=30)
    assert int8.status_code == 200, int8.text
    (log_dir / "best.int8.onnx").write_bytes(int8.content)
    x = np.random.default_rng(0).normal(size=(5, 1, 8, 8)).astype(np.float32)
    assert ort.InferenceSession(str(log_dir / "best.int8.onnx")).run(None, {"input": x})[0].shape == (5, 10)
    return search
