"""Issue 18 item 2: the same model timed twice on one worker differs by < 10 %, and why the latency figure is
a low quantile (worker/nas/evaluation/latency_stat.py) rather than the median.

Samples --nets random `layers` and `vit` networks (Fashion-MNIST shape, untrained), exports each to ONNX once
and times it in --sessions fresh ONNX Runtime sessions (one thread, the worker's timing code: warm-up, then
>= 20 calls over >= 0.2 s, in BATCH1_WINDOWS windows), keeping every call's time. For each statistic (the
median, the 10th percentile of one window, the engine's lowest 10th percentile of the windows, the minimum)
it prints the median over networks of the spread between sessions
((max - min) / min) and the share of networks whose sessions all agree within 10 %.

Meant to run beside real load (a search training on the other cores): noise is what it measures. `--check`
exits 1 unless the engine's statistic keeps >= 90 % of networks within 10 %.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from worker.nas.evaluation import cpu_features  # noqa: E402
from worker.nas.evaluation.latency_stat import LATENCY_QUANTILE, latency_of  # noqa: E402
from worker.nas.evaluation.ort_latency import BATCH1_WINDOWS  # noqa: E402

INPUT = (1, 28, 28)
GOAL_SHARE = 0.90
ENGINE = f"p{round(100 * LATENCY_QUANTILE)}, lowest of {BATCH1_WINDOWS} windows (engine)"
STATS = {  # each of a session's timing windows
    "median": lambda windows: float(np.median(windows[0])),
    f"p{round(100 * LATENCY_QUANTILE)}, one window": lambda windows: latency_of(windows[0]),
    ENGINE: lambda windows: min(latency_of(w) for w in windows),
    "min": lambda windows: float(np.min(np.concatenate(windows))),
}


def session_times(model: bytes) -> list[list[float]]:
    """Every timed call (ms) of one fresh session, per window, timed as ort_latency.batch1_latency_ms does."""
    from worker.nas.evaluation import ort_latency

    session = ort_latency.make_session(model, threads=1)
    windows: list[list[float]] = []
    for _ in range(BATCH1_WINDOWS):
        windows.append([])
        ort_latency.session_latency_ms(session, INPUT, batch=1, repeats=20, record=windows[-1])
    return windows


def networks(n: int, seed: int) -> list[tuple[str, bytes]]:
    import torch

    from worker.nas.evaluation.export import onnx_bytes
    from worker.nas.spaces.layers import LayersSpace
    from worker.nas.spaces.vit import ViTSpace
    from worker.nas.types import TaskShape

    rng, out = random.Random(seed), []
    task = TaskShape(INPUT, 10)
    for space in (LayersSpace(task=task), ViTSpace(task=task)):
        for _ in range(n):
            g = space.validate(space.sample(rng))
            torch.manual_seed(0)
            out.append((space.describe(g), onnx_bytes(space.build(g).eval(), INPUT)))
    return out


def run(n: int, sessions: int, seed: int) -> dict[str, Any]:
    nets = networks(n, seed)
    t0 = time.monotonic()
    runs = [[session_times(model) for _ in range(sessions)] for _, model in nets]
    out: dict[str, Any] = {
        "networks": len(nets),
        "sessions": sessions,
        "seconds": round(time.monotonic() - t0, 1),
        "cpu": cpu_features.describe(),
        "stats": {},
    }
    for name, stat in STATS.items():
        spreads = []
        for per_session in runs:
            figs = [stat(t) for t in per_session]
            spreads.append((max(figs) - min(figs)) / min(figs))
        out["stats"][name] = {
            "median_spread_pct": round(100 * float(np.median(spreads)), 2),
            "within_10pct": round(float(np.mean([s <= 0.10 for s in spreads])), 3),
        }
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nets", type=int, default=12, help="random networks per space")
    ap.add_argument("--sessions", type=int, default=4, help="fresh sessions per network")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    r = run(args.nets, args.sessions, args.seed)
    if args.json:
        print(json.dumps(r, indent=1))
    else:
        print(f"{r['networks']} networks x {r['sessions']} sessions ({r['seconds']} s), {r['cpu']}")
        for name, s in r["stats"].items():
            print(
                f"  {name:12s} spread between sessions {s['median_spread_pct']:.1f} % (median), "
                f"{100 * s['within_10pct']:.0f} % of networks within 10 %"
            )
    return 1 if args.check and r["stats"][ENGINE]["within_10pct"] < GOAL_SHARE else 0


if __name__ == "__main__":
    sys.exit(main())
