"""Does reusing earlier work help? Weight inheritance and warm start, measured on the digits set.

For each seed: (1) regularized evolution with and without `inherit_weights`, same budget — mean
validation accuracy of mutated children and best validation accuracy; (2) a second search warm-started
with the best 5 genomes of a first search (another seed) against the same search started cold — best
validation accuracy after the first k candidates. Short trainings (2 epochs) on purpose: that is where
starting from trained weights can matter. One thread, so figures do not depend on other jobs' threads.
A measuring tool: it states no goal and has no `--check` (it reports whether reuse helps, not a target).

    .venv/bin/python benchmarks/reuse_effect.py [--seeds 3] [--candidates 16]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from worker.nas.runner import run_local_search  # noqa: E402
from worker.nas.sink import MemorySink  # noqa: E402
from worker.nas.spec import parse_spec  # noqa: E402


def spec(seed: int, candidates: int, inherit: bool = False):
    return parse_spec(
        {
            "space": {"type": "layers", "max_depth": 6, "filters": [8, 16, 32], "head": "flatten"},
            "strategy": {"type": "regularized-evolution", "population_size": 6, "sample_size": 3},
            "dataset": {"name": "digits"},
            "training": {"epochs": 2, "batch_size": 64, "lr": 0.01},
            "budget": {"max_candidates": candidates},
            "final": {"top_k": 0},
            "inherit_weights": inherit,
            "seed": seed,
        }
    )


def accuracies(sink: MemorySink, children_only: bool = False) -> list[float]:
    out = []
    for c in sink.candidates.values():
        r = c["result"]
        if r.status == "done" and (not children_only or "inherited_tensors" in r.metrics):
            out.append(r.metrics["val_accuracy"])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--candidates", type=int, default=16)
    ap.add_argument("--first-k", type=int, default=5, help="warm start: best after this many candidates")
    args = ap.parse_args()
    torch.set_num_threads(1)
    t0 = time.monotonic()
    rows = []
    for seed in range(args.seeds):
        plain, inherit = MemorySink(), MemorySink()
        run_local_search(spec(seed, args.candidates), plain)
        run_local_search(spec(seed, args.candidates, inherit=True), inherit)
        children = accuracies(inherit, children_only=True)
        # Children of the plain run: same strategy, proposals after the random start (ids beyond population).
        plain_children = [
            c["result"].metrics["val_accuracy"]
            for i, c in plain.candidates.items()
            if i > 6 and c["result"].status == "done"
        ]
        earlier = MemorySink()
        run_local_search(spec(seed + 100, args.candidates), earlier)
        ranked = sorted(
            (c for c in earlier.candidates.values() if c["result"].status == "done"),
            key=lambda c: -c["result"].metrics["val_accuracy"],
        )
        warm_sink, cold_sink = MemorySink(), MemorySink()
        run_local_search(spec(seed, args.first_k), warm_sink, warm_start=[c["genome"] for c in ranked[:5]])
        run_local_search(spec(seed, args.first_k), cold_sink)
        rows.append(
            {
                "seed": seed,
                "children_val_mean_inherit": round(statistics.fmean(children), 4) if children else None,
                "children_inherited": len(children),
                "children_val_mean_plain": round(statistics.fmean(plain_children), 4)
                if plain_children
                else None,
                "best_val_inherit": round(max(accuracies(inherit)), 4),
                "best_val_plain": round(max(accuracies(plain)), 4),
                f"best_val_first_{args.first_k}_warm": round(max(accuracies(warm_sink)), 4),
                f"best_val_first_{args.first_k}_cold": round(max(accuracies(cold_sink)), 4),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    print(json.dumps({"seconds": round(time.monotonic() - t0, 1), "seeds": args.seeds}))


if __name__ == "__main__":
    main()
