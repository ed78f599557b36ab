"""ASHA against full-fidelity training under the same fixed search budget, on Fashion-MNIST.

Goal (issue 16): with a fixed 30-minute search budget and `parallelism: 2`, asynchronous successive halving
evaluates at least 2x as many distinct candidates as full-fidelity training, and the network it picks is at
least as good on validation. `--check` exits 1 when either does not hold; the figures are printed either
way (and as JSON with `--json`).

Both sides run in this one process, one after the other, through the search lifecycle that `nasboard
search --local` and the service drive (worker.nas.runner.LocalSearch, two training threads), with the same
spec and seed; they differ only in `multi_fidelity`. The search stage alone is compared (no final
training). A candidate counts as evaluated once it trained at least one epoch; the pick is the lifecycle's
best by validation (the one the final stage would retrain first); its epochs are printed beside it.

    .venv/bin/python benchmarks/asha_pays.py [--minutes 30] [--parallelism 2] [--epochs 9]
        [--data-fraction 0.5] [--min-epochs 1] [--eta 3] [--json] [--check]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from worker.nas.runner import LocalSearch  # noqa: E402
from worker.nas.sink import MemorySink  # noqa: E402
from worker.nas.spec import parse_spec  # noqa: E402


def cpu() -> dict[str, Any]:
    model, flags = platform.processor() or "?", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags") and not flags:
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return {"model": model, "cores": os.cpu_count(), "bf16": sorted(flags & {"amx_bf16", "avx512_bf16"})}


def base_spec(args: argparse.Namespace) -> dict[str, Any]:
    # The 60-minute spec's space and recipe (benchmarks/fashion_mnist_60min.yaml), trained for `epochs`.
    return {
        "name": "asha-pays",
        "seed": args.seed,
        "space": {
            "type": "layers",
            "min_depth": 4,
            "max_depth": 10,
            "kinds": ["conv", "pool", "dropout", "dense"],
            "filters": [32, 48, 64, 96, 128],
            "kernels": [3, 5],
            "strides": [1, 2],
            "activations": ["relu", "silu"],
            "batch_norm": [True],
            "separable": [False],
            "pool_kinds": ["max"],
            "dropout_rates": [0.1, 0.2, 0.3],
            "dense_units": [128],
            "max_dense": 1,
            "head": "flatten",
        },
        "strategy": {"type": "regularized-evolution", "population_size": 10, "sample_size": 3},
        "dataset": {"name": args.dataset, "validation_fraction": 0.1},
        "training": {
            "epochs": args.epochs,
            "data_fraction": args.data_fraction,
            "batch_size": 128,
            "optimizer": "adamw",
            "lr": 0.003,
            "weight_decay": 0.0005,
            "schedule": "onecycle",
            "label_smoothing": 0.1,
            "precision": "auto",
        },
        "constraints": {"max_flops": 40_000_000, "max_params": 1_500_000},
        "budget": {"max_candidates": 100_000, "max_minutes": args.minutes},
        "parallelism": args.parallelism,
        "final": {"top_k": 0},
    }


def no_final(*_: Any, **__: Any) -> tuple[dict[str, Any], dict[str, str]]:
    return {}, {}


def run(spec_dict: dict[str, Any], data_dir: str | None) -> dict[str, Any]:
    spec = parse_spec(spec_dict)
    t0 = time.monotonic()
    search = LocalSearch(spec, MemorySink(), data_dir=data_dir, finalizer=no_final)
    search.run()
    trials = list(search.lc.trials.values())
    trained = [t for t in trials if t.epochs]
    best = search.lc.best()
    metrics = best.result.metrics if best and best.result else {}
    return {
        "multi_fidelity": spec.multi_fidelity.type,
        "wall_s": round(time.monotonic() - t0, 1),
        "distinct_evaluated": len(trained),
        "epochs_trained": sum(t.epochs or 0 for t in trained),
        "full_epochs": sum(1 for t in trained if t.epochs == spec.training.epochs),
        "infeasible_skipped": sum(1 for t in trials if t.status == "infeasible"),
        "pick": None
        if best is None
        else {
            "id": best.cid,
            "label": search.space.describe(best.genome),
            "epochs": best.epochs,
            "val_accuracy": metrics.get("val_accuracy"),
            "params": metrics.get("params"),
            "flops": metrics.get("flops"),
        },
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=30.0, help="search budget of each side")
    ap.add_argument("--parallelism", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=9, help="full fidelity: every candidate trains these")
    ap.add_argument(
        "--data-fraction", type=float, default=0.5, help="share of the training split each candidate sees"
    )
    ap.add_argument("--min-epochs", type=int, default=1, help="ASHA's first rung")
    ap.add_argument("--eta", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--dataset", default="fashion-mnist", help="digits: a smoke run in seconds")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--check", action="store_true", help="exit 1 unless ASHA meets both goals")
    args = ap.parse_args()
    spec = base_spec(args)
    asha = {"type": "asha", "min_epochs": args.min_epochs, "eta": args.eta}
    sides = {}
    for name, fidelity in (("full", {"type": "none"}), ("asha", asha)):
        sides[name] = run({**spec, "multi_fidelity": fidelity}, args.data_dir)
        print(f"{name}: {json.dumps(sides[name])}", file=sys.stderr, flush=True)
    full, fast = sides["full"], sides["asha"]
    ratio = fast["distinct_evaluated"] / max(1, full["distinct_evaluated"])
    val = lambda side: (side["pick"] or {}).get("val_accuracy") or 0.0  # noqa: E731
    more, as_good = ratio >= 2.0, val(fast) >= val(full)
    report = {
        "machine": cpu(),
        "minutes": args.minutes,
        "parallelism": args.parallelism,
        "epochs": args.epochs,
        "data_fraction": args.data_fraction,
        "asha": asha,
        "sides": sides,
        "distinct_ratio": round(ratio, 2),
        "goal_distinct_2x": more,
        "goal_pick_as_good": as_good,
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for name, side in sides.items():
            pick = side["pick"] or {}
            print(
                f"{name:>4}: {side['distinct_evaluated']} distinct candidates "
                f"({side['epochs_trained']} epochs, "
                f"{side['full_epochs']} to {args.epochs}) in {side['wall_s']} s; pick #{pick.get('id')} "
                f"val {pick.get('val_accuracy')} at {pick.get('epochs')} epochs, {pick.get('params')} params"
            )
        print(f"machine: {report['machine']}")
        print(f"ASHA / full distinct candidates: {ratio:.2f} (goal >= 2): {'met' if more else 'NOT met'}")
        verdict = "met" if as_good else "NOT met"
        print(f"ASHA pick val >= full pick val: {val(fast):.4f} vs {val(full):.4f}: {verdict}")
    return 1 if args.check and not (more and as_good) else 0


if __name__ == "__main__":
    sys.exit(main())
