"""API latency under many pollers, with a 10,000-candidate search stored.

Stores a search of N finished candidates (a layers-space genome, 9 metrics and 12 curve points each)
through the repository's write paths and reports how long that took; serves the API with uvicorn
(child processes) on SQLite or PostgreSQL; then P concurrent pollers (httpx async, loopback) each loop
every --interval seconds: GET /api/searches/{id}, then GET /api/searches/{id}/candidates?after=<cursor>.

--mode live     what a dashboard does (the frontend's polling fallback, every 1 s): each poller starts at
                the head of the change cursor and asks only for what changed since, while a writer thread
                adds and finishes --write-rate candidates per second through the repository.
--mode history  every candidates request is a full page (--limit) of the stored history: each poller walks
                it from a random starting point, as a hundred dashboards all loading the search at once.

Prints p50/p95/p99 per endpoint, the server's CPU time per request (its processes' /proc counters, which
other load on the machine does not inflate) and the load average, so the latencies can be read in context.

    .venv/bin/python benchmarks/api_pollers.py --db sqlite --mode live
    .venv/bin/python benchmarks/api_pollers.py --db postgres --mode history --keep
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import threading
import time

import httpx
from _api_bench_support import (
    bench_settings,
    find_stored,
    percentiles,
    process_tree_cpu,
    sample_genomes,
    served,
    store_search,
)

from backend.db import repository
from backend.db.session import session_scope
from backend.settings import Settings


async def poller(client: httpx.AsyncClient, search_id: int, start: int, args, clock, seed, out) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random(seed)
    cursor = start if args.mode == "live" else rng.randint(0, start)
    await asyncio.sleep(rng.uniform(0, max(args.interval, 0.05)))  # spread the pollers' phases
    warmup_until, stop_at = clock
    while time.perf_counter() < stop_at:
        for kind, path, params in (
            ("search", f"/api/searches/{search_id}", None),
            ("candidates", f"/api/searches/{search_id}/candidates", {"after": cursor, "limit": args.limit}),
        ):
            t0 = time.perf_counter()
            try:
                r = await client.get(path, params=params)
                r.raise_for_status()
                body = r.json()
            except (httpx.HTTPError, ValueError):
                out["errors"].append(time.perf_counter() - t0)
                continue
            if t0 >= warmup_until and time.perf_counter() <= stop_at:
                out[kind].append(time.perf_counter() - t0)
                if kind == "candidates":
                    out["items"].append(len(body["items"]))
            if kind == "candidates":
                cursor = body["next_after"] if body["items"] or args.mode == "live" else 0  # history: wrap
        if args.interval:
            await asyncio.sleep(args.interval)


def writer(settings: Settings, search_id: int, rate: float, stop: threading.Event, done: list[int]) -> None:
    """Add and finish candidates as workers would (two changes each), `rate` per second."""
    rng = random.Random(7)
    fresh = sample_genomes(20_000, seed=99)[10_000:]  # beyond the stored ones
    for genome, key, origin in fresh:
        if stop.wait(1.0 / rate):
            return
        with session_scope(settings, write=True) as s:
            added = repository.add_candidates(s, search_id, [(genome, key, origin)])
        if added:
            with session_scope(settings, write=True) as s:
                acc = rng.uniform(0.6, 0.93)
                repository.finish_candidate(
                    s, added[0].id, "done", fitness=acc, metrics={"val_accuracy": acc}
                )
            done.append(added[0].id)


async def run_pollers(url: str, search_id: int, args: argparse.Namespace) -> dict[str, list[float]]:
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        head = (await client.get(f"/api/searches/{search_id}")).json()["seq"]
        page = (await client.get(f"/api/searches/{search_id}/candidates", params={"after": head - 1})).json()
        head = max(head, page["next_after"])
    out: dict[str, list[float]] = {"search": [], "candidates": [], "errors": [], "items": []}
    limits = httpx.Limits(max_connections=args.pollers + 10, max_keepalive_connections=args.pollers + 10)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        now = time.perf_counter()
        clock = (now + args.warmup, now + args.warmup + args.duration)
        await asyncio.gather(
            *(poller(client, search_id, head, args, clock, i, out) for i in range(args.pollers))
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--mode", choices=("live", "history"), default="live")
    parser.add_argument("--candidates", type=int, default=10_000)
    parser.add_argument("--curve-points", type=int, default=12)
    parser.add_argument("--pollers", type=int, default=100)
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between a poller's rounds")
    parser.add_argument("--limit", type=int, default=100, help="candidates per page")
    parser.add_argument("--write-rate", type=float, default=5.0, help="live mode: candidates finished per s")
    parser.add_argument("--duration", type=float, default=30.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds not measured at the start")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--data-dir", help="SQLite: keep the database here (default: a temporary dir)")
    parser.add_argument("--keep", action="store_true", help="keep the stored search for the next run")
    args = parser.parse_args()

    with bench_settings(args.db, args.data_dir, args.keep) as settings:
        # A live run adds candidates to the stored search; later runs reuse it (at least N candidates).
        search_id, store_s = find_stored(settings, args.candidates), None
        if search_id is None:
            search_id, store_s = store_search(settings, args.candidates, args.curve_points)
            print(
                f"stored {args.candidates} candidates x {args.curve_points} curve points on {args.db} "
                f"in {store_s:.1f} s ({args.candidates / store_s:.0f} candidates/s)"
            )
        else:
            print(f"reusing stored search {search_id} on {args.db}")
        with session_scope(settings) as s:
            stored_n = repository.search_summary(s, search_id)["n_candidates"]
        stop, written = threading.Event(), []
        with served(settings, args.workers) as server:
            thread = None
            if args.mode == "live":
                thread = threading.Thread(
                    target=writer, args=(settings, search_id, args.write_rate, stop, written)
                )
                thread.start()
            load_before, cpu_before = os.getloadavg()[0], process_tree_cpu(server.pid)
            try:
                out = asyncio.run(run_pollers(server.url, search_id, args))
            finally:
                stop.set()
                if thread:
                    thread.join()
            cpu_used, load_after = process_tree_cpu(server.pid) - cpu_before, os.getloadavg()[0]
    served_requests = len(out["search"]) + len(out["candidates"]) + len(out["errors"])
    measured = len(out["search"]) + len(out["candidates"])
    report = {
        "db": args.db,
        "mode": args.mode,
        "candidates_stored": stored_n,
        "candidates_added_during_run": len(written),
        "store_seconds": None if store_s is None else round(store_s, 2),
        "pollers": args.pollers,
        "interval_s": args.interval,
        "page_limit": args.limit,
        "uvicorn_workers": args.workers,
        "requests_measured": measured,
        "requests_per_s": round(measured / args.duration, 1),
        "errors": len(out["errors"]),
        "mean_items_per_page": round(sum(out["items"]) / max(1, len(out["items"])), 1),
        "server_cpu_ms_per_request": round(cpu_used * 1000 / max(1, served_requests), 2),
        "load_average_1m": [round(load_before, 1), round(load_after, 1)],
        "latency_ms": {
            kind: {k: (round(v * 1000, 1) if k != "n" else v) for k, v in percentiles(out[kind]).items()}
            for kind in ("search", "candidates")
        },
    }
    worst = max(report["latency_ms"][k].get("p99", float("inf")) for k in ("search", "candidates"))
    print(json.dumps(report, indent=2))
    print(f"p99 (worst endpoint): {worst:.1f} ms — goal < 100 ms: {'met' if worst < 100 else 'NOT met'}")


if __name__ == "__main__":
    main()
