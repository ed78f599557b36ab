"""Cost of GET /api/searches/{id}/hypervolume on a 10,000-candidate two-objective search.

    .venv/bin/python benchmarks/hypervolume_10k.py [--n 10000] [--database sqlite|postgres] [--check]

Stores a `layers` search maximising val_accuracy and minimising params with n finished candidates
(about 3 % failed; accuracy rises with log-parameters plus noise, as in page_10k.py), then times the
route through the app (median of 7 calls): the read of every finished candidate's status, fitness and
metrics, the replay of the front and the JSON answer. It also times the engine alone on the adversarial
case, n points that all stay on the front. Goal (issue 19): cheap at 10,000 candidates, < 500 ms.
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
import time

from _api_bench_support import bench_settings, sample_genomes
from fastapi.testclient import TestClient

from backend.app import create_app
from backend.db import repository
from backend.db.session import session_scope

GOAL_MS = 500.0
SPEC = {
    "name": "bench-hypervolume",
    "space": {"type": "layers"},
    "strategy": {"type": "nsga2"},
    "dataset": {"name": "digits"},
    "objectives": [{"metric": "val_accuracy"}, {"metric": "params"}],
    "budget": {"max_candidates": 100_000},
}


def store(settings, n: int) -> int:
    rng = random.Random(0)
    with session_scope(settings, write=True) as s:
        search_id = repository.create_search(s, SPEC, SPEC["name"]).id
        repository.start_search(s, search_id)
    genomes = sample_genomes(n, 0)
    for lo in range(0, n, 500):
        with session_scope(settings, write=True) as s:
            for cand in repository.add_candidates(s, search_id, genomes[lo : lo + 500]):
                if rng.random() < 0.03:
                    repository.finish_candidate(s, cand.id, "failed", error="RuntimeError: out of memory")
                    continue
                params = float(rng.randint(5_000, 2_000_000))
                acc = max(0.05, min(0.98, 0.5 + 0.08 * math.log10(params) + rng.gauss(0, 0.05)))
                metrics = {"val_accuracy": acc, "params": params}
                repository.finish_candidate(s, cand.id, "done", fitness=acc, metrics=metrics)
    return search_id


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--check", action="store_true", help="exit 1 when the median misses the goal")
    args = parser.parse_args()
    with bench_settings(args.database, pg_name="nasboard_bench_hv") as settings:
        search_id = store(settings, args.n)
        client = TestClient(create_app(settings.model_copy(update={"allowed_hosts": "testserver"})))
        times, body = [], {}
        for _ in range(7):
            start = time.perf_counter()
            body = client.get(f"/api/searches/{search_id}/hypervolume").json()
            times.append((time.perf_counter() - start) * 1000)
    median = statistics.median(times)
    print(f"{args.database}: {body['n_evaluations']:,} evaluations, {len(body['points'])} points sent")
    print(f"route: median {median:.0f} ms, min {min(times):.0f} ms, max {max(times):.0f} ms")

    from worker.nas.convergence import hypervolume_history

    xs = random.Random(1).random
    front = [(a, 1.0 - a) for a in (xs() for _ in range(args.n))]
    start = time.perf_counter()
    hypervolume_history(front, (-0.01, -0.01))
    print(f"engine alone, all {args.n:,} points on the front: {(time.perf_counter() - start) * 1000:.0f} ms")
    return 1 if args.check and median > GOAL_MS else 0


if __name__ == "__main__":
    sys.exit(main())
