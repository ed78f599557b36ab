"""API latency under many pollers, with a 10,000-candidate search stored.

Stores a search of N finished candidates (a layers-space genome, 9 metrics and 12 curve points each)
through the repository's write paths and reports how long that took; serves the API with uvicorn
(child processes) on SQLite or PostgreSQL; then P concurrent pollers (httpx async, loopback) each loop:
GET /api/searches/{id}, then GET /api/searches/{id}/candidates?after=<cursor>&limit=<L>, walking the
stored history page by page from a random starting point (every candidates answer is a full page), and
sleeping --interval seconds between rounds (0 = back to back). Prints p50/p95/p99 per endpoint.

    .venv/bin/python benchmarks/api_pollers.py --db sqlite --candidates 10000 --pollers 100
    .venv/bin/python benchmarks/api_pollers.py --db postgres --candidates 10000 --pollers 100
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time

import httpx
from _api_bench_support import bench_settings, find_stored, percentiles, served, store_search


async def poller(
    client: httpx.AsyncClient,
    search_id: int,
    max_seq: int,
    limit: int,
    interval: float,
    warmup_until: float,
    stop_at: float,
    seed: int,
    out: dict[str, list[float]],
) -> None:
    rng = random.Random(seed)
    cursor = rng.randint(0, max_seq)
    await asyncio.sleep(rng.uniform(0, max(interval, 0.05)))  # spread the pollers' phases
    while time.perf_counter() < stop_at:
        for kind, path, params in (
            ("search", f"/api/searches/{search_id}", None),
            ("candidates", f"/api/searches/{search_id}/candidates", {"after": cursor, "limit": limit}),
        ):
            t0 = time.perf_counter()
            try:
                r = await client.get(path, params=params)
                r.raise_for_status()
                body = r.json()
            except (httpx.HTTPError, ValueError):
                out["errors"].append(time.perf_counter() - t0)
                continue
            elapsed = time.perf_counter() - t0
            if t0 >= warmup_until:
                out[kind].append(elapsed)
            if kind == "candidates":
                out["items"].append(len(body["items"]))
                cursor = body["next_after"] if body["items"] else 0  # wrap around at the end
        if interval:
            await asyncio.sleep(interval)


async def run_pollers(url: str, search_id: int, args: argparse.Namespace) -> dict[str, list[float]]:
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        max_seq = (await client.get(f"/api/searches/{search_id}")).json()["seq"]
    out: dict[str, list[float]] = {"search": [], "candidates": [], "errors": [], "items": []}
    limits = httpx.Limits(max_connections=args.pollers + 10, max_keepalive_connections=args.pollers + 10)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:
        now = time.perf_counter()
        warmup_until, stop_at = now + args.warmup, now + args.warmup + args.duration
        await asyncio.gather(
            *(
                poller(client, search_id, max_seq, args.limit, args.interval, warmup_until, stop_at, i, out)
                for i in range(args.pollers)
            )
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--candidates", type=int, default=10_000)
    parser.add_argument("--curve-points", type=int, default=12)
    parser.add_argument("--pollers", type=int, default=100)
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between a poller's rounds")
    parser.add_argument("--limit", type=int, default=100, help="candidates per page")
    parser.add_argument("--duration", type=float, default=30.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds not measured at the start")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--data-dir", help="SQLite: keep the database here (default: a temporary dir)")
    parser.add_argument("--keep", action="store_true", help="keep the stored search for the next run")
    args = parser.parse_args()

    with bench_settings(args.db, args.data_dir, args.keep) as settings:
        search_id, store_s = find_stored(settings, args.candidates), None
        if search_id is None:
            search_id, store_s = store_search(settings, args.candidates, args.curve_points)
            print(
                f"stored {args.candidates} candidates x {args.curve_points} curve points on {args.db} "
                f"in {store_s:.1f} s ({args.candidates / store_s:.0f} candidates/s)"
            )
        else:
            print(f"reusing stored search {search_id} ({args.candidates} candidates) on {args.db}")
        with served(settings, args.workers) as url:
            out = asyncio.run(run_pollers(url, search_id, args))
    measured = len(out["search"]) + len(out["candidates"])
    report = {
        "db": args.db,
        "candidates_stored": args.candidates,
        "store_seconds": None if store_s is None else round(store_s, 2),
        "pollers": args.pollers,
        "interval_s": args.interval,
        "page_limit": args.limit,
        "uvicorn_workers": args.workers,
        "requests_measured": measured,
        "requests_per_s": round(measured / args.duration, 1),
        "errors": len(out["errors"]),
        "mean_items_per_page": round(sum(out["items"]) / max(1, len(out["items"])), 1),
        "latency_ms": {
            kind: {k: (round(v * 1000, 1) if k != "n" else v) for k, v in percentiles(out[kind]).items()}
            for kind in ("search", "candidates")
        },
    }
    all_p99 = max(report["latency_ms"][k].get("p99", float("inf")) for k in ("search", "candidates"))
    print(json.dumps(report, indent=2))
    print(f"p99 (worst endpoint): {all_p99:.1f} ms — goal < 100 ms: {'met' if all_p99 < 100 else 'NOT met'}")


if __name__ == "__main__":
    main()
