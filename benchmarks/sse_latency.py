"""Commit-to-screen latency of the SSE stream: from a candidate's result being committed to the
database until an SSE client of GET /api/searches/{id}/events has received it.

A writer thread finishes one candidate at a time through the repository (as a worker does), stamps the
moment its commit returned, publishes the change notification (as the coordinator does; a no-op when
embedded), and waits --gap seconds; C client threads hold the stream open and stamp each `candidate`
event that reports a candidate as done. Both stamps come from one clock in one process.

Goal (docs/benchmarks.md): p99 commit-to-client < 500 ms, no result missed. `--check` exits 1 when that is
missed; the figures are printed either way.

    .venv/bin/python benchmarks/sse_latency.py --mode embedded      # DB polling every 100 ms
    .venv/bin/python benchmarks/sse_latency.py --mode redis         # Redis pub/sub wake-ups
    .venv/bin/python benchmarks/sse_latency.py ... --check          # exit 1 when the goal is missed
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time

import httpx
from _api_bench_support import bench_settings, percentiles, served

from backend.db import repository
from backend.db.session import session_scope
from backend.events import publish_change
from backend.settings import Settings


def seed(settings: Settings, n: int) -> tuple[int, list[int]]:
    from _api_bench_support import SPEC, sample_genomes

    with session_scope(settings, write=True) as s:
        search_id = repository.create_search(s, SPEC, "sse-latency").id
        repository.start_search(s, search_id)
        ids = [c.id for c in repository.add_candidates(s, search_id, sample_genomes(n, seed=1))]
    return search_id, ids


def client(url: str, search_id: int, after: int, received: dict[int, float], ready: threading.Event) -> None:
    params = {"after": after}
    with httpx.stream("GET", f"{url}/api/searches/{search_id}/events", params=params, timeout=60) as r:
        ready.set()
        event: dict[str, str] = {}
        for line in r.iter_lines():
            if line:
                key, _, value = line.partition(": ")
                event[key] = value
                continue
            if event.get("event") == "candidate":
                data = json.loads(event["data"])
                if data["status"] == "done" and data["id"] not in received:
                    received[data["id"]] = time.perf_counter()
                    if data.get("fitness") == -1.0:  # the writer's last candidate: stop
                        return
            event = {}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("embedded", "redis"), default="embedded")
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--changes", type=int, default=60, help="candidates finished one by one")
    parser.add_argument("--gap", type=float, default=0.25, help="seconds between two commits")
    parser.add_argument("--clients", type=int, default=1, help="SSE clients on the same search")
    parser.add_argument("--check", action="store_true", help="exit 1 when p99 >= 500 ms or one is missed")
    args = parser.parse_args()

    with bench_settings(args.db, pg_name="nasboard_bench_sse") as settings:
        if args.mode == "redis":
            settings.redis_url = args.redis_url
        search_id, ids = seed(settings, args.changes)
        with session_scope(settings) as s:
            cursor = repository.get_search(s, search_id).next_seq
        with served(settings, workers=1) as server:
            url = server.url
            received: list[dict[int, float]] = [{} for _ in range(args.clients)]
            threads = []
            for i in range(args.clients):
                ready = threading.Event()
                t = threading.Thread(
                    target=client, args=(url, search_id, cursor, received[i], ready), daemon=True
                )
                t.start()
                ready.wait(10)
                threads.append(t)
            # Open the publisher's Redis connection now: a worker process pays that once, not per result.
            publish_change(settings, search_id)
            time.sleep(0.5)
            committed: dict[int, float] = {}
            for n, cid in enumerate(ids):
                last = n == len(ids) - 1
                with session_scope(settings, write=True) as s:
                    fitness = -1.0 if last else 0.5 + n / 1000
                    repository.finish_candidate(
                        s, cid, "done", fitness=fitness, metrics={"val_accuracy": 0.5}
                    )
                committed[cid] = time.perf_counter()
                publish_change(settings, search_id)
                time.sleep(args.gap)
            for t in threads:
                t.join(timeout=10)
    latencies = [got[cid] - committed[cid] for got in received for cid in got if cid in committed]
    print("latencies in commit order (ms):", [round(x * 1000) for x in latencies])
    missing = sum(len(ids) - len(got) for got in received)
    stats = {k: (round(v * 1000, 1) if k != "n" else v) for k, v in percentiles(latencies).items()}
    print(
        json.dumps(
            {
                "mode": args.mode,
                "db": args.db,
                "clients": args.clients,
                "changes": len(ids),
                "gap_s": args.gap,
                "missed": missing,
                "latency_ms": stats,
            },
            indent=2,
        )
    )
    p99 = stats.get("p99", float("inf"))
    verdict = "met" if p99 < 500 and not missing else "NOT met"
    print(f"p99 commit-to-client: {p99:.1f} ms — goal < 500 ms: {verdict}")
    return 1 if args.check and verdict != "met" else 0


if __name__ == "__main__":
    sys.exit(main())
