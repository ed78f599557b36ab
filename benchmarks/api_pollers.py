"""API latency under many pollers, with a 10,000-candidate search stored.

Stores a search of N finished candidates (a layers-space genome, 9 metrics and 12 curve points each)
through the repository's write paths and reports how long that took; serves the API with uvicorn
(child processes) on SQLite or PostgreSQL; then P concurrent pollers (asyncio, loopback, each on its own
keep-alive connection through a minimal HTTP client so the load generator's CPU stays small) each loop
every --interval seconds: GET /api/searches/{id}, then GET /api/searches/{id}/candidates?after=<cursor>.

--mode live     what a dashboard does (the frontend's polling fallback, every 1 s): each poller starts at
                the head of the change cursor and asks only for what changed since, while a writer thread
                adds and finishes --write-rate candidates per second through the repository.
--mode history  every candidates request is a full page (--limit) of the stored history: each poller walks
                it from a random starting point, as a hundred dashboards all loading the search at once.

Prints p50/p95/p99 per endpoint, the server's CPU time per request (its processes' /proc counters, which
other load on the machine does not inflate) and the load average, so the latencies can be read in context.

--sse N holds N event streams open through the run (with --redis, fed by Redis pub/sub as in production).
--interval 0 turns the pollers into a saturating load (each sends its next request when the last returns),
the figure to compare across --workers.

Goal (issue 17, docs/benchmarks.md): p99 < 100 ms on both endpoints with 10,000 candidates stored, 100
pollers at 1 request/s and 10 event streams, on PostgreSQL without a manual vacuum (--no-vacuum).
`--check` exits 1 when the worst endpoint's p99 is 100 ms or more or any request failed; the figures are
printed either way.

    .venv/bin/python benchmarks/api_pollers.py --db sqlite --mode live
    .venv/bin/python benchmarks/api_pollers.py --db postgres --mode history --keep
    .venv/bin/python benchmarks/api_pollers.py --db sqlite --keep --mode live --state realistic --check
    .venv/bin/python benchmarks/api_pollers.py --db postgres --keep --no-vacuum --sse 10 \
        --redis redis://127.0.0.1:6379/14 --workers 2 --check
    .venv/bin/python benchmarks/api_pollers.py --db postgres --keep --interval 0 --workers 1   # saturating
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import random
import sys
import time
from typing import Any

import httpx
from _api_bench_support import (
    bench_settings,
    ensure_strategy_state,
    find_stored,
    named_processes_cpu,
    percentiles,
    process_tree_cpu,
    sample_genomes,
    served,
    store_search,
)
from _raw_http import RawClient
from sqlalchemy import create_engine, text

from backend.db import repository
from backend.db.session import get_engine, session_scope
from backend.events import publish_change
from backend.settings import Settings


async def poller(url: str, search_id: int, start: int, args: Any, clock: Any, seed: int, out: dict) -> None:  # type: ignore[type-arg]
    """One dashboard: its own keep-alive connection, polling every --interval seconds."""
    rng = random.Random(seed)
    cursor = start if args.mode == "live" else rng.randint(0, start)
    warmup_until, stop_at = clock  # time.time(): the window is shared by several processes
    begin = warmup_until - args.warmup  # spread the pollers' phases over one interval after the start
    await asyncio.sleep(max(0.0, begin - time.time()) + rng.uniform(0, max(args.interval, 0.05)))
    client = RawClient(url)
    while time.time() < stop_at:
        for kind, path, params in (
            ("search", f"/api/searches/{search_id}", None),
            ("candidates", f"/api/searches/{search_id}/candidates", {"after": cursor, "limit": args.limit}),
        ):
            t0, wall = time.perf_counter(), time.time()
            try:
                status, body = await client.get_json(path, params)
            except (OSError, ValueError, asyncio.IncompleteReadError) as exc:
                out["errors"].append(type(exc).__name__)
                await client.close()
                continue
            if status != 200:
                out["errors"].append(f"HTTP {status}")
                continue
            # Every request started in the window counts, however late it ends (no survivorship bias).
            if warmup_until <= wall < stop_at:
                out[kind].append(time.perf_counter() - t0)
                if kind == "candidates":
                    out["items"].append(len(body["items"]))
            if kind == "candidates":
                cursor = body["next_after"] if body["items"] or args.mode == "live" else 0  # history: wrap
        if args.interval:
            await asyncio.sleep(args.interval)
    await client.close()


def writer(settings: Settings, search_id: int, rate: float, fresh: list[Any], stop: Any, done: Any) -> None:
    """Add and finish candidates as workers would (two changes each), `rate` per second. Runs in its own
    process so its CPU does not stall the pollers' event loops."""
    get_engine(settings.database_url).dispose(close=False)  # connections inherited from the parent: not ours
    rng = random.Random(7)
    for genome, key, origin in fresh:
        if stop.wait(1.0 / rate):
            return
        with session_scope(settings, write=True) as s:
            added = repository.add_candidates(s, search_id, [(genome, key, origin)])
        publish_change(settings, search_id, None)
        if added:
            with session_scope(settings, write=True) as s:
                acc = rng.uniform(0.6, 0.93)
                repository.finish_candidate(
                    s, added[0].id, "done", fitness=acc, metrics={"val_accuracy": acc}
                )
            publish_change(settings, search_id, None)
            with done.get_lock():
                done.value += 1


async def sse_client(url: str, search_id: int, head: int, clock: Any, out: dict) -> None:  # type: ignore[type-arg]
    """One open event stream from the head of the cursor for the whole run; counts the events it gets."""
    host, port = url.split("//", 1)[1].split(":")
    _, stop_at = clock  # opened at once: the streams are held through the warm-up and the window
    try:
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(
            f"GET /api/searches/{search_id}/events?after={head} HTTP/1.1\r\nHost: {host}\r\n"
            "Accept: text/event-stream\r\n\r\n".encode()
        )
        status = (await reader.readline()).split()[1]
        if status != b"200":
            out["errors"].append(f"SSE HTTP {status.decode()}")
            return
        while time.time() < stop_at:
            try:
                line = await asyncio.wait_for(reader.readline(), max(0.1, stop_at - time.time()))
            except TimeoutError:
                break
            if not line:
                out["errors"].append("SSE closed")
                return
            if line.startswith(b"event: "):
                out["sse_events"].append(line[7:].strip().decode())
        writer.close()
    except OSError as exc:
        out["errors"].append(f"SSE {type(exc).__name__}")


async def run_pollers(
    url: str, search_id: int, head: int, args: Any, seeds: range, clock: Any, streams: int
) -> dict:  # type: ignore[type-arg]
    out: dict[str, list[Any]] = {"search": [], "candidates": [], "errors": [], "items": [], "sse_events": []}
    await asyncio.gather(
        *(poller(url, search_id, head, args, clock, i, out) for i in seeds),
        *(sse_client(url, search_id, head, clock, out) for _ in range(streams)),
    )
    return out


def client_process(
    url: str, search_id: int, head: int, args: Any, seeds: range, clock: Any, streams: int, results: Any
) -> None:
    results.put(asyncio.run(run_pollers(url, search_id, head, args, seeds, clock, streams)))


def poll_from_processes(url: str, search_id: int, args: argparse.Namespace) -> dict[str, list[Any]]:
    """Split the pollers over --client-procs processes (one event loop each) and merge their samples."""
    head = httpx.get(f"{url}/api/searches/{search_id}").json()["seq"]
    page = httpx.get(f"{url}/api/searches/{search_id}/candidates", params={"after": head - 1}).json()
    head = max(head, page["next_after"])
    start = time.time() + 2.0  # wall clock: shared by the processes
    clock_wall = (start + args.warmup, start + args.warmup + args.duration)
    results: Any = mp.Queue()
    procs = []
    for k in range(args.client_procs):
        seeds = range(k, args.pollers, args.client_procs)
        streams = len(range(k, args.sse, args.client_procs))
        proc = mp.Process(
            target=client_process, args=(url, search_id, head, args, seeds, clock_wall, streams, results)
        )
        proc.start()
        procs.append(proc)
    merged: dict[str, list[Any]] = {k: [] for k in ("search", "candidates", "errors", "items", "sse_events")}
    for _ in procs:
        part = results.get()
        for key in merged:
            merged[key] += part[key]
    for proc in procs:
        proc.join()
    return merged


def vacuum(settings: Settings) -> None:
    """A production PostgreSQL runs autovacuum; this machine's has it off, so earlier runs leave dead rows
    that slow every count. Vacuum once so the run measures a maintained database (--no-vacuum: as left)."""
    engine = create_engine(settings.database_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        for table in ("candidates", "curve_points", "searches", "strategy_states"):
            conn.execute(text(f"VACUUM ANALYZE {table}"))
    engine.dispose()
    print("postgres: VACUUM ANALYZE done (autovacuum stands in for this in production)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--mode", choices=("live", "history"), default="live")
    parser.add_argument("--candidates", type=int, default=10_000)
    parser.add_argument(
        "--state",
        choices=("realistic", "none"),
        default="realistic",
        help="the search's stored strategy state: what regularized evolution saves after 10k results, or {}",
    )
    parser.add_argument("--curve-points", type=int, default=12)
    parser.add_argument("--pollers", type=int, default=100)
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between a poller's rounds")
    parser.add_argument("--limit", type=int, default=100, help="candidates per page")
    parser.add_argument("--write-rate", type=float, default=5.0, help="live mode: candidates finished per s")
    parser.add_argument("--duration", type=float, default=30.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds not measured at the start")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--client-procs", type=int, default=2, help="processes the pollers are spread over")
    parser.add_argument("--sse", type=int, default=0, help="event streams held open during the run")
    parser.add_argument(
        "--redis",
        help="Redis URL for change notifications (as in production: the writer publishes, each API process "
        "holds one pub/sub connection); without it the streams poll the database",
    )
    parser.add_argument("--data-dir", help="SQLite: keep the database here (default: a temporary dir)")
    parser.add_argument("--keep", action="store_true", help="keep the stored search for the next run")
    parser.add_argument(
        "--no-vacuum",
        action="store_true",
        help="postgres: measure the tables as left, without VACUUM ANALYZE",
    )
    parser.add_argument("--check", action="store_true", help="exit 1 when p99 >= 100 ms or a request failed")
    args = parser.parse_args()

    with bench_settings(args.db, args.data_dir, args.keep) as settings:
        settings.redis_url = args.redis
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
        state_bytes = ensure_strategy_state(settings, search_id, realistic=args.state == "realistic")
        if args.db == "postgres" and not args.no_vacuum:
            vacuum(settings)
        fresh = sample_genomes(stored_n + 5_000, seed=0)[stored_n:] if args.mode == "live" else []
        stop, written = mp.Event(), mp.Value("i", 0)
        with served(settings, args.workers) as server:
            proc = None
            if args.mode == "live":
                proc = mp.Process(
                    target=writer, args=(settings, search_id, args.write_rate, fresh, stop, written)
                )
                proc.start()
            load_before, cpu_before = os.getloadavg()[0], process_tree_cpu(server.pid)
            pg_before = named_processes_cpu("postgres")
            try:
                out = poll_from_processes(server.url, search_id, args)
            finally:
                stop.set()
                if proc:
                    proc.join()
            cpu_used, load_after = process_tree_cpu(server.pid) - cpu_before, os.getloadavg()[0]
            pg_used = named_processes_cpu("postgres") - pg_before
    served_requests = len(out["search"]) + len(out["candidates"]) + len(out["errors"])
    measured = len(out["search"]) + len(out["candidates"])
    report = {
        "db": args.db,
        "mode": args.mode,
        "candidates_stored": stored_n,
        "candidates_added_during_run": written.value,
        "strategy_state_bytes": state_bytes,
        "client_processes": args.client_procs,
        "store_seconds": None if store_s is None else round(store_s, 2),
        "pollers": args.pollers,
        "interval_s": args.interval,
        "page_limit": args.limit,
        "uvicorn_workers": args.workers,
        "requests_measured": measured,
        "requests_per_s": round(measured / args.duration, 1),
        "sse_streams": args.sse,
        "sse_events_received": len(out["sse_events"]),
        "notifications": "redis" if args.redis else "database polling",
        "vacuumed_first": args.db == "postgres" and not args.no_vacuum,
        "errors": len(out["errors"]),
        "error_kinds": {kind: out["errors"].count(kind) for kind in sorted(set(out["errors"]))},
        "mean_items_per_page": round(sum(out["items"]) / max(1, len(out["items"])), 1),
        "server_cpu_ms_per_request": round(cpu_used * 1000 / max(1, served_requests), 2),
        "postgres_cpu_ms_per_request": round(pg_used * 1000 / max(1, served_requests), 2)
        if args.db == "postgres"
        else None,
        "load_average_1m": [round(load_before, 1), round(load_after, 1)],
        "latency_ms": {
            kind: {k: (round(v * 1000, 1) if k != "n" else v) for k, v in percentiles(out[kind]).items()}
            for kind in ("search", "candidates")
        },
    }
    worst = max(report["latency_ms"][k].get("p99", float("inf")) for k in ("search", "candidates"))
    print(json.dumps(report, indent=2))
    met = worst < 100 and not out["errors"]
    errors = f", {len(out['errors'])} failed requests" if out["errors"] else ""
    print(f"p99 (worst endpoint): {worst:.1f} ms{errors} — goal < 100 ms: {'met' if met else 'NOT met'}")
    return 1 if args.check and not met else 0


if __name__ == "__main__":
    sys.exit(main())
