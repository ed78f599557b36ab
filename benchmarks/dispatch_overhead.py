"""Dispatch overhead per candidate through the real queue, and the time of one coordination step.

0. Dispatch -> start (real worker, idle): the time from `train_candidate` being sent to the broker to the
   task having marked its candidate as training (`started_at`), one candidate at a time.
1. Loop hop (real workers, broker of your choice, parallelism 1): for consecutive candidates, the gap
   between one candidate's result being stored (finished_at) and the next candidate starting to train
   (started_at). That gap holds everything the service adds per candidate: the advance_search task's
   broker hop, the step itself (lock, tell, ask, store, commit) and the train_candidate task's broker hop.
2. advance_search step time in-process on the same database, with a recording dispatcher (no broker),
   on searches holding N finished candidates, to show how the step grows with history.

    .venv/bin/python benchmarks/dispatch_overhead.py                # Postgres + Redis
    .venv/bin/python benchmarks/dispatch_overhead.py --broker embedded
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

from _service_bench_support import describe, run_search, service_env, settings_of, workers

SPEC = {
    "name": "bench-dispatch",
    "space": {"type": "layers"},
    "strategy": {"type": "regularized-evolution"},
    "dataset": {"name": "digits"},
    "training": {"epochs": 1, "batch_size": 256},
    "budget": {"max_candidates": 25},
    "parallelism": 1,
    "final": {"top_k": 0},
    "seed": 3,
}


def loop_gaps(settings, search_id: int) -> list[float]:
    from sqlalchemy import select

    from backend.db.models import Candidate
    from backend.db.session import session_scope

    with session_scope(settings) as s:
        rows = s.execute(
            select(Candidate.started_at, Candidate.finished_at)
            .where(Candidate.search_id == search_id)
            .order_by(Candidate.id)
        ).all()
    return [(nxt[0] - cur[1]).total_seconds() * 1000 for cur, nxt in zip(rows, rows[1:], strict=False)]


class Recorder:
    def train(self, candidate_id: int) -> None: ...

    def advance(self, search_id: int) -> None: ...

    def finalize(self, search_id: int) -> None: ...


def step_times(settings, history: int, repeats: int) -> list[float]:
    """Store a search with `history` finished candidates (random layers genomes), then time steps."""
    from backend.db import repository as repo
    from backend.db.session import session_scope
    from worker import coordinator
    from worker.engine_bridge import space_for
    from worker.nas.spec import parse_spec

    spec = {**SPEC, "name": f"step-{history}", "budget": {"max_candidates": history + 10 * repeats}}
    space = space_for(parse_spec(spec), settings)
    rng = random.Random(history)
    with session_scope(settings, write=True) as s:
        search_id = repo.create_search(s, spec, spec["name"]).id
        items, keys = [], set()
        while len(items) < history:
            g = space.sample(rng)
            k = space.canonical(g)
            if k not in keys:
                keys.add(k)
                items.append((g, k, None))
        cands = repo.add_candidates(s, search_id, items)
        for c in cands:
            acc = rng.random()
            repo.finish_candidate(s, c.id, "done", fitness=acc, metrics={"val_accuracy": acc, "params": 1e4})
    d = Recorder()
    coordinator.advance_search(search_id, d, settings, kick=True)  # tells all history once, asks 1
    times = []
    for _ in range(repeats):
        with session_scope(settings, write=True) as s:  # finish the in-flight one, so the step has work
            queued = repo.candidates_after(s, search_id, 0, 10**6)[0]
            for c in queued:
                if c.status == "queued":
                    repo.finish_candidate(s, c.id, "done", fitness=0.5, metrics={"val_accuracy": 0.5})
        t0 = time.perf_counter()
        coordinator.advance_search(search_id, d, settings)
        times.append((time.perf_counter() - t0) * 1000)
    return times


def dispatch_to_start(env: dict, settings, n: int) -> list[float]:
    """Send train_candidate for queued candidates of a running search, one at a time, idle worker."""
    from datetime import UTC, datetime

    from backend.db import repository as repo
    from backend.db.migrate import upgrade_to_head
    from backend.db.session import session_scope
    from worker.celery_app import make_celery
    from worker.engine_bridge import space_for
    from worker.nas.spec import parse_spec

    upgrade_to_head(settings)
    spec = {**SPEC, "name": "dispatch-probe", "budget": {"max_candidates": n}}
    space = space_for(parse_spec(spec), settings)
    rng = random.Random(0)
    with session_scope(settings, write=True) as s:
        search_id = repo.create_search(s, spec, spec["name"]).id
        repo.start_search(s, search_id)
        items, keys = [], set()
        while len(items) < n:
            g = space.sample(rng)
            if space.canonical(g) not in keys:
                keys.add(space.canonical(g))
                items.append((g, space.canonical(g), None))
        ids = [c.id for c in repo.add_candidates(s, search_id, items)]
    app = make_celery(settings)
    latencies = []
    for cid in ids:
        sent = datetime.now(UTC)
        app.send_task("nasboard.train_candidate", args=[cid], queue="train")
        while True:
            with session_scope(settings) as s:
                cand = repo.get_candidate(s, cid)
                started, status = cand.started_at, cand.status
            if status in ("done", "failed"):
                break
            time.sleep(0.01)
        started = started if started.tzinfo else started.replace(tzinfo=UTC)
        latencies.append((started - sent).total_seconds() * 1000)
    return latencies


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--broker", choices=["redis", "embedded"], default="redis")
    ap.add_argument("--candidates", type=int, default=25)
    ap.add_argument("--histories", default="10,100,1000")
    args = ap.parse_args()
    spec = {**SPEC, "budget": {"max_candidates": args.candidates}}
    with service_env(args.broker) as env:
        settings = settings_of(env)
        with tempfile.TemporaryDirectory() as logs, workers(env, 1, Path(logs)):
            search_id, wall = run_search(env, spec)
            probe = dispatch_to_start(env, settings, 15)
        gaps = loop_gaps(settings, search_id)
        print(f"broker={args.broker} database={settings.database_url.split(':')[0]}")
        print(f"dispatch -> train task started (idle worker) [ms]: {describe(probe)}")
        print(f"search of {args.candidates} candidates (digits, 1 epoch, parallelism 1): {wall:.1f} s wall")
        print(f"per-candidate loop hop, finished_at -> next started_at [ms]: {describe(gaps)}")
        for n in [int(x) for x in args.histories.split(",") if x]:
            times = step_times(settings, n, repeats=15)
            print(f"advance_search step with {n:>5} finished candidates [ms]: {describe(times)}")
        print(
            f"median dispatch->start {statistics.median(probe):.1f} ms, median loop hop "
            f"{statistics.median(gaps):.1f} ms (goal < 50 ms)"
        )


if __name__ == "__main__":
    main()
