"""How much this machine's own speed drifts: the noise floor under the latency goals (issue 18 items 2, 4).

Times a fixed float32 128x128 matmul on one thread for --seconds: each sample is the engine's latency
statistic of 200 calls (`latency_stat.latency_of`, a 10th percentile), one sample about every 0.5 s. It
prints the fastest, median and slowest sample and the share of samples within 10 % of the fastest. Nothing
else should run: on an idle machine whose samples spread, the spread is the host's (a shared physical core,
frequency changes), and a latency timed at a random moment reads that much high.

`--check` exits 1 when the median sample is more than 10 % over the fastest: then a network timed once at a
random moment misses a ±10 % band around its best time more often than not, whatever the predictor or the
timing statistic (the goals' ±10 % cannot be judged on such a machine).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/machine_drift.py [--seconds 60] [--json] [--check]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before numpy loads its BLAS

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from worker.nas.evaluation.cpu_features import describe  # noqa: E402
from worker.nas.evaluation.latency_stat import latency_of  # noqa: E402
from worker.nas.latency_error import TOLERANCE  # noqa: E402

CALLS = 200
SIZE = 128


def samples(seconds: float) -> list[float]:
    """Per-sample latency figures (µs, `latency_of` of CALLS matmuls), about every 0.5 s for `seconds`."""
    a = np.random.default_rng(0).random((SIZE, SIZE), dtype=np.float32)
    out: list[float] = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        times = []
        for _ in range(CALLS):
            t0 = time.perf_counter()
            a @ a
            times.append((time.perf_counter() - t0) * 1e6)
        out.append(latency_of(times))
        time.sleep(0.5)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--check", action="store_true", help="exit 1 when the median sample is > 10 % slow")
    args = ap.parse_args()
    s = np.array(samples(args.seconds))
    fastest = float(s.min())
    report = {
        "cpu": describe(),
        "samples": len(s),
        "fastest_us": fastest,
        "median_us": float(np.median(s)),
        "slowest_us": float(s.max()),
        "median_over_fastest": float(np.median(s)) / fastest,
        "within_10pct_of_fastest": float(np.mean(s <= fastest * (1 + TOLERANCE))),
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        median, ratio, slowest = report["median_us"], report["median_over_fastest"], report["slowest_us"]
        print(
            f"{report['cpu']}\n{len(s)} samples over {args.seconds:.0f} s: fastest {fastest:.1f} µs, median "
            f"{median:.1f} ({ratio:.2f}x), slowest {slowest:.1f}; "
            f"{100 * report['within_10pct_of_fastest']:.0f} % within 10 % of the fastest"
        )
    return 1 if args.check and report["median_over_fastest"] > 1 + TOLERANCE else 0


if __name__ == "__main__":
    sys.exit(main())
