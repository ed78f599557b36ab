"""Cost of one coordination step (`advance_search`) against the number of finished candidates.

A search over the `layers` space with regularized evolution holds N finished, told candidates (stored as
the lifecycle stores them); each timed step follows one more finished candidate, as in a running search:
read what changed, tell it, ask one genome, store it and the state. The first step of a process replays
the whole table (a cold start, reported apart); the others continue the lifecycle the process holds.

Goal (issue 16): median step <= 30 ms with 10 finished candidates and <= 40 ms with 10,000, PostgreSQL.

    .venv/bin/python benchmarks/step_cost.py --check                 # PostgreSQL on 127.0.0.1
    .venv/bin/python benchmarks/step_cost.py --database sqlite
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time

from _service_bench_support import service_env, settings_of

GOALS_MS = {10: 30.0, 10_000: 40.0}
SPEC = {
    "name": "bench-step",
    "space": {"type": "layers"},
    "strategy": {"type": "regularized-evolution"},
    "dataset": {"name": "digits"},
    "training": {"epochs": 1},
    "final": {"top_k": 0},
    "seed": 3,
}


class Recorder:
    def train(self, candidate_id: int) -> None: ...

    def advance(self, search_id: int) -> None: ...

    def finalize(self, search_id: int) -> None: ...


def seed(settings, n: int, repeats: int) -> int:
    """A running search with `n` finished candidates, each told in order, as the lifecycle leaves them."""
    from backend.db import repository as repo
    from backend.db.models import Candidate
    from backend.db.session import session_scope
    from worker.engine_bridge import space_for
    from worker.nas.spec import parse_spec

    spec = parse_spec({**SPEC, "budget": {"max_candidates": n + repeats + 5}})
    space, rng = space_for(spec, settings), random.Random(n)
    with session_scope(settings, write=True) as s:
        search_id = repo.create_search(s, spec.model_dump(mode="json"), f"step-{n}").id
        repo.start_search(s, search_id)
        keys: set[str] = set()
        while len(keys) < n:
            g = space.sample(rng)
            k = space.canonical(g)
            if k in keys:
                continue
            keys.add(k)
            acc = rng.random()
            result = {"status": "done", "fitness": acc, "metrics": {"val_accuracy": acc}, "error": None}
            s.add(
                Candidate(
                    search_id=search_id,
                    seq=len(keys),
                    genome=g,
                    canonical=k,
                    status="done",
                    fitness=acc,
                    metrics=result["metrics"],
                    epochs=1,
                    told=len(keys) - 1,
                    lifecycle={
                        "rung_scores": [acc],
                        "start_rung": 0,
                        "told_result": result,
                        "status": "done",
                    },
                )
            )
        s.flush()
        s.get(type(repo.get_search(s, search_id)), search_id).next_seq = n + 1
    return search_id


def step_times(settings, n: int, repeats: int) -> tuple[float, list[float]]:
    from backend.db import repository as repo
    from backend.db.session import session_scope
    from worker import coordinator

    search_id = seed(settings, n, repeats)
    d = Recorder()
    t0 = time.perf_counter()
    coordinator.advance_search(search_id, d, settings, kick=True)  # cold: replays n results, asks one
    cold = (time.perf_counter() - t0) * 1000
    times = []
    for _ in range(repeats):
        with session_scope(settings, write=True) as s:  # the one in flight finishes: the step has work
            for c in repo.candidates_after(s, search_id, n, 10)[0]:
                if c.status == "queued":
                    repo.finish_candidate(s, c.id, "done", fitness=0.5, metrics={"val_accuracy": 0.5})
        t0 = time.perf_counter()
        coordinator.advance_search(search_id, d, settings)
        times.append((time.perf_counter() - t0) * 1000)
    return cold, times


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--database", choices=["postgres", "sqlite"], default="postgres")
    ap.add_argument("--histories", default="10,1000,10000")
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--check", action="store_true", help="exit 1 when a goal is missed")
    args = ap.parse_args()
    from backend.db.migrate import upgrade_to_head

    missed = []
    with service_env("redis" if args.database == "postgres" else "embedded") as env:
        settings = settings_of(env)
        upgrade_to_head(settings)
        print(f"database={settings.database_url.split(':')[0]}")
        for n in [int(x) for x in args.histories.split(",") if x]:
            cold, times = step_times(settings, n, args.repeats)
            med = statistics.median(times)
            p90 = sorted(times)[int(0.9 * (len(times) - 1))]
            goal = GOALS_MS.get(n)
            verdict = (
                "" if goal is None else (" ok" if med <= goal else " MISSED") + f" (goal <= {goal:.0f} ms)"
            )
            print(f"{n:>6} finished: step median {med:.1f} ms, p90 {p90:.1f} ms; cold {cold:.0f} ms{verdict}")
            if goal is not None and med > goal:
                missed.append(n)
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
