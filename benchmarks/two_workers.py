"""Two training workers against one on the same search: wall time from start to completion.

The same spec (random search, fixed seed, so both runs train the same genomes) runs with one and then
two single-threaded training worker processes, on Postgres + Redis (or the embedded broker).

Goal (docs/benchmarks.md): two workers finish the search faster than one. `--check` exits 1 when they do
not; the figures are printed either way.

    .venv/bin/python benchmarks/two_workers.py [--broker embedded] [--candidates 8] [--epochs 2]
        [--dataset fashion-mnist] [--train-subset 3000] [--check]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from _service_bench_support import run_search, service_env, workers


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--broker", choices=["redis", "embedded"], default="redis")
    ap.add_argument("--candidates", type=int, default=8)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--dataset", default="fashion-mnist")
    ap.add_argument("--train-subset", type=int, default=3000, help="training samples per candidate")
    ap.add_argument("--check", action="store_true", help="exit 1 unless two workers beat one")
    args = ap.parse_args()
    spec = {
        "name": "bench-two-workers",
        "space": {"type": "layers"},
        "strategy": {"type": "random"},
        "dataset": {"name": args.dataset, "train_subset": args.train_subset},
        "training": {"epochs": args.epochs},
        "budget": {"max_candidates": args.candidates},
        "parallelism": 2,
        "final": {"top_k": 0},
        "seed": 7,
    }
    walls = {}
    for n in (1, 2):
        with (
            service_env(args.broker) as env,
            tempfile.TemporaryDirectory() as logs,
            workers(env, n, Path(logs)),
        ):
            _, walls[n] = run_search(env, spec)
        print(f"{n} training worker(s): {walls[n]:.1f} s for {args.candidates} candidates", flush=True)
    print(
        f"broker={args.broker}: two workers / one worker wall time = {walls[2] / walls[1]:.2f} "
        f"(speed-up {walls[1] / walls[2]:.2f}x)"
    )
    met = walls[2] < walls[1]
    print(f"goal: two workers faster than one: {'met' if met else 'NOT met'}")
    return 1 if args.check and not met else 0


if __name__ == "__main__":
    sys.exit(main())
