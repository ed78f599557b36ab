"""The one statistic every latency figure is read with (eager, ONNX Runtime, int8, the predictor's tables).

The 10th percentile of the timed calls, not their median: on a shared worker (another training job on the
next core, a neighbour VM) interference only ever adds time and comes in bursts longer than a timing
window, so the median follows it. Measured on a 2-core AMD EPYC VM with a training job on the other core
(2026-12-06, 24 random `vit` and `layers` networks, each timed in 4 fresh sessions): the median's spread
between sessions was 20 % (42 % of networks within 10 %), the 10th percentile's 1.2 % (79 %). The low
quantile estimates what the network costs on a device of its own, which is what a deployment sees.
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
