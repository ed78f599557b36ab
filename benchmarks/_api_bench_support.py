"""Shared by the API benchmarks: a scratch database (SQLite file or a fresh Postgres database), a stored
search written through the repository, and the API served by uvicorn in child processes."""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from backend.db import repository  # noqa: E402
from backend.db.migrate import upgrade_to_head  # noqa: E402
from backend.db.session import get_engine, session_scope  # noqa: E402
from backend.settings import Settings  # noqa: E402

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
SPEC: dict[str, Any] = {
    "name": "bench-10k",
    "space": {"type": "layers"},
    "strategy": {"type": "regularized-evolution"},
    "dataset": {"name": "fashion-mnist"},
    "objectives": [{"metric": "val_accuracy"}, {"metric": "params", "goal": "minimize"}],
    "budget": {"max_candidates": 10_000},
}


def _pg_url(name: str) -> str:
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


@contextmanager
def bench_settings(
    db: str, data_dir: str | None = None, keep: bool = False, pg_name: str = "nasboard_bench_api"
) -> Iterator[Settings]:
    """Settings on a benchmark database, migrated to head. SQLite lives in `data_dir` (a temporary
    directory when None); Postgres in the database `pg_name`. Both are removed afterwards unless `keep`,
    so a stored 10,000-candidate search can be reused by the next run."""
    from sqlalchemy import create_engine, text

    with tempfile.TemporaryDirectory(prefix="nasboard-bench-") as tmp:
        root = Path(data_dir) if data_dir else Path(tmp)
        if db == "sqlite":
            settings = Settings(data_dir=root, broker_url="memory://")
            upgrade_to_head(settings)
            yield settings
            if not keep and data_dir:
                (root / "nasboard.db").unlink(missing_ok=True)
            return
        name = pg_name
        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first()
            if not exists:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        settings = Settings(data_dir=root, database_url=_pg_url(name), broker_url="memory://")
        try:
            upgrade_to_head(settings)
            yield settings
        finally:
            get_engine(settings.database_url).dispose()
            if not keep:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


def find_stored(settings: Settings, n: int) -> int | None:
    """Id of an earlier benchmark search with at least `n` candidates, if one is stored."""
    with session_scope(settings) as s:
        rows, _ = repository.list_searches(s, limit=500)
        for search in rows:
            if search.name == SPEC["name"] and repository.search_summary(s, search.id)["n_candidates"] >= n:
                return search.id
    return None


def sample_genomes(n: int, seed: int) -> list[tuple[dict[str, Any], str, dict[str, Any]]]:
    """Distinct genomes sampled from the layers space (real, varied, 4-12 layers each)."""
    from worker.nas.registry import space_class

    space, rng, seen, out = space_class("layers")(), random.Random(seed), set(), []
    while len(out) < n:
        genome = space.sample(rng)
        key = space.canonical(genome)
        if key not in seen:
            seen.add(key)
            out.append((genome, key, {"operator": "sample"}))
    return out


def store_search(
    settings: Settings, n: int, curve_points: int, chunk: int = 500, seed: int = 0
) -> tuple[int, float]:
    """Store a search with `n` finished candidates through the repository's write paths (the ones the
    coordinator uses), `chunk` candidates per transaction. Returns (search id, seconds spent storing)."""
    genomes = sample_genomes(n, seed)
    rng = random.Random(seed)
    start = time.perf_counter()
    with session_scope(settings, write=True) as s:
        search_id = repository.create_search(s, SPEC, SPEC["name"]).id
        repository.start_search(s, search_id)
    for lo in range(0, n, chunk):
        with session_scope(settings, write=True) as s:
            cands = repository.add_candidates(s, search_id, genomes[lo : lo + chunk], epochs=curve_points)
            for cand in cands:
                repository.mark_training(s, cand.id, worker="bench")
                acc = rng.uniform(0.6, 0.93)
                for epoch in range(1, curve_points + 1):
                    frac = epoch / curve_points
                    repository.add_curve_point(
                        s,
                        cand.id,
                        epoch,
                        {
                            "train_loss": 1.6 - frac * rng.uniform(0.8, 1.3),
                            "val_loss": 1.7 - frac * rng.uniform(0.7, 1.2),
                            "val_accuracy": acc * (0.7 + 0.3 * frac),
                            "val_f1": acc * (0.68 + 0.3 * frac),
                            "seconds": rng.uniform(20, 120),
                        },
                    )
                metrics = {
                    "val_accuracy": acc,
                    "val_loss": rng.uniform(0.2, 0.9),
                    "val_f1": acc - 0.01,
                    "train_loss": rng.uniform(0.1, 0.8),
                    "params": float(rng.randint(5_000, 2_000_000)),
                    "flops": float(rng.randint(100_000, 200_000_000)),
                    "latency_ms": rng.uniform(0.2, 8.0),
                    "peak_memory_mb": rng.uniform(5, 300),
                    "epochs": float(curve_points),
                }
                if rng.random() < 0.03:
                    repository.finish_candidate(
                        s, cand.id, "failed", error="RuntimeError: CUDA out of memory"
                    )
                else:
                    repository.finish_candidate(s, cand.id, "done", fitness=acc, metrics=metrics)
    return search_id, time.perf_counter() - start


def ensure_strategy_state(settings: Settings, search_id: int, realistic: bool = True) -> int:
    """Give the stored search the state a real strategy would have saved after telling it every result
    (regularized evolution: RNG, every canonical key seen, the full history): about 1.3 KB per candidate,
    so reads that load it by accident show up in the figures. Returns its size in bytes."""
    import json

    from worker.nas.registry import space_class, strategy_class
    from worker.nas.types import Result

    if not realistic:
        with session_scope(settings, write=True) as s:
            repository.save_strategy_state(s, search_id, {})
        return 2
    with session_scope(settings) as s:
        stored = repository.get_search(s, search_id).strategy_state
        if stored:
            return len(json.dumps(stored))
        strategy_cls = strategy_class("regularized-evolution")
        strategy = strategy_cls(space_class("layers")(), strategy_cls.Options(), seed=0)
        after = 0
        while True:
            rows, after = repository.candidates_after(s, search_id, after, 1000)
            if not rows:
                break
            for c in rows:
                result = Result(status=c.status, fitness=c.fitness, metrics=c.metrics or {}, error=c.error)
                strategy.tell(c.genome, result)
    state = strategy.state_dict()
    with session_scope(settings, write=True) as s:
        repository.save_strategy_state(s, search_id, state)
    return len(json.dumps(state))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def process_tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by a process and its live children (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    pids, total = [pid], 0.0
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def named_processes_cpu(prefix: str) -> float:
    """CPU seconds used so far by every process whose command name starts with `prefix` (e.g. the
    PostgreSQL backends, which a request's server CPU does not include). Exited processes drop out."""
    tick, total = os.sysconf("SC_CLK_TCK"), 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        name, rest = text[text.index("(") + 1 : text.rindex(")")], text.rsplit(")", 1)[1].split()
        if name.startswith(prefix):
            total += (int(rest[11]) + int(rest[12])) / tick
    return total


@dataclass
class Server:
    url: str
    pid: int


@contextmanager
def served(settings: Settings, workers: int, port: int | None = None) -> Iterator[Server]:
    """`uvicorn --factory backend.app:create_app` in a child process, on loopback."""
    port = port or free_port()
    env = {
        **os.environ,
        "NASBOARD_DATA_DIR": str(settings.data_dir),
        "NASBOARD_DATABASE_URL": settings.database_url,
        "NASBOARD_BROKER_URL": settings.broker_url,
        "PYTHONPATH": str(REPO),
    }
    if settings.redis_url:
        env["NASBOARD_REDIS_URL"] = settings.redis_url
    cmd = [sys.executable, "-m", "uvicorn", "backend.app:create_app", "--factory", "--host", "127.0.0.1"]
    cmd += ["--port", str(port), "--workers", str(workers), "--log-level", "warning", "--no-access-log"]
    cmd += ["--timeout-graceful-shutdown", "3"]
    proc = subprocess.Popen(cmd, env=env, cwd=REPO)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the API server did not come up")
            time.sleep(0.2)
        yield Server(url, proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0}
    ordered = sorted(values)

    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return {"n": len(ordered), "p50": pick(0.50), "p95": pick(0.95), "p99": pick(0.99), "max": ordered[-1]}
