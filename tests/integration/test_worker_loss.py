"""A training worker process killed mid-candidate: the task is redelivered and the search still completes."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from service_harness import clean_env, logs, nasboard, processes

pytestmark = pytest.mark.integration

SPEC = {
    "name": "worker-loss",
    "space": {"type": "layers"},
    "strategy": {"type": "random"},
    "dataset": {"name": "digits"},
    "training": {"epochs": 12, "batch_size": 32},  # long enough to be killed mid-way
    "budget": {"max_candidates": 1},
    "final": {"top_k": 0},
}


def _pool_children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(x) for x in out.split()]


def test_killed_training_process_is_redelivered_and_search_completes(
    postgres_url: str, redis_url: str, tmp_path: Path
) -> None:
    env = clean_env(
        NASBOARD_DATABASE_URL=postgres_url,
        NASBOARD_BROKER_URL=redis_url,
        NASBOARD_DATA_DIR=str(tmp_path / "d"),
    )
    os.environ.update({k: v for k, v in env.items() if k.startswith("NASBOARD_")})
    from backend.db import repository as repo
    from backend.db.migrate import upgrade_to_head
    from backend.db.session import session_scope
    from backend.settings import Settings
    from worker.celery_app import make_celery

    for key in ("NASBOARD_DATABASE_URL", "NASBOARD_BROKER_URL", "NASBOARD_DATA_DIR"):
        os.environ.pop(key)
    settings = Settings(database_url=postgres_url, broker_url=redis_url, data_dir=tmp_path / "d")
    upgrade_to_head(settings)
    with session_scope(settings, write=True) as s:
        search_id = repo.create_search(s, SPEC, SPEC["name"]).id
    cmds = [
        nasboard("worker", "--queues", "search", "--name", "search", "--gpus", "none"),
        nasboard("worker", "--queues", "train", "--name", "train", "--gpus", "none", "--torch-threads", "1"),
    ]
    with processes(cmds, env, tmp_path) as procs:
        make_celery(settings).send_task(
            "nasboard.advance_search", args=[search_id], kwargs={"kick": True}, queue="search"
        )
        deadline = time.monotonic() + 90
        killed = None
        while time.monotonic() < deadline and killed is None:
            with session_scope(settings) as s:
                cands, _ = repo.candidates_after(s, search_id, 0, 10)
                curve = repo.candidate_curve(s, cands[0].id) if cands else []
            if cands and cands[0].status == "training" and curve:
                children = _pool_children(procs[1].pid)
                assert children, f"no pool process under the train worker\n{logs(tmp_path)}"
                os.kill(children[0], signal.SIGKILL)
                killed = children[0]
            time.sleep(0.2)
        assert killed is not None, f"candidate never reached training\n{logs(tmp_path)}"
        status = None
        while time.monotonic() < deadline + 60:
            with session_scope(settings) as s:
                status = repo.get_search(s, search_id).status
                cand = repo.candidates_after(s, search_id, 0, 10)[0][0]
            if status in ("completed", "failed", "cancelled"):
                break
            time.sleep(0.3)
    assert status == "completed", f"search ended {status}\n{logs(tmp_path)}"
    assert cand.status == "done" and not cand.worker.endswith(f":{killed}")
    with session_scope(settings) as s:
        assert [p["epoch"] for p in repo.candidate_curve(s, cand.id)] == list(range(1, 13))
