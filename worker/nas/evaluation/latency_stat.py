"""The one statistic every latency figure is read with (eager, ONNX Runtime, int8, the predictor's tables).

The 10th percentile of the timed calls, not their median: on a shared worker (another training job on the
next core, a neighbour VM) interference only ever adds time and comes in bursts longer than a timing
window, so the median follows it. benchmarks/latency_repeat.py times random networks in fresh sessions:
beside a search on a 2-core AMD EPYC (2026-12-06), all 4 sessions of a network agreed within 10 % for 95 %
of 100 networks with the 10th percentile, 78 % with the median. The low quantile estimates what the network
costs on a device of its own, which is what a deployment sees.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

LATENCY_QUANTILE = 0.1


def latency_of(times_ms: Sequence[float]) -> float:
    """The latency figure (ms) of a run of timed calls."""
    if not times_ms:
        raise ValueError("no timed calls")
    return float(np.quantile(np.asarray(times_ms, dtype=float), LATENCY_QUANTILE))
