"""How far predicted latencies are from measured ones: the share within ±10 %, Spearman's rank correlation
and the median absolute percentage error (the figures the predictor is judged by, in the API and benches)."""

from __future__ import annotations

import math
from collections.abc import Sequence

TOLERANCE = 0.10  # ±10 % of the measured latency


def _ranks(values: Sequence[float]) -> list[float]:
    """Average ranks (ties share the mean of their places), as Spearman's rho needs."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2.0
        i = j + 1
    return ranks


def spearman(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Spearman's rho of two equally long sequences; None with fewer than 3 pairs or a constant side."""
    if len(a) != len(b) or len(a) < 3:
        return None
    ra, rb = _ranks(a), _ranks(b)
    ma, mb = sum(ra) / len(ra), sum(rb) / len(rb)
    cov = sum((x - ma) * (y - mb) for x, y in zip(ra, rb, strict=True))
    va = sum((x - ma) ** 2 for x in ra)
    vb = sum((y - mb) ** 2 for y in rb)
    return None if va == 0 or vb == 0 else cov / math.sqrt(va * vb)


def error_summary(predicted: Sequence[float], measured: Sequence[float]) -> dict[str, float | int | None]:
    """{n, within_10pct (share 0..1), spearman, median_abs_pct_error (percent)} over pairs with a positive
    measured figure; None figures where there are no pairs."""
    pairs = [
        (float(p), float(m))
        for p, m in zip(predicted, measured, strict=True)
        if m is not None and p is not None and m > 0 and math.isfinite(p) and math.isfinite(m)
    ]
    if not pairs:
        return {"n": 0, "within_10pct": None, "spearman": None, "median_abs_pct_error": None}
    errors = sorted(abs(p - m) / m for p, m in pairs)
    mid = len(errors) // 2
    median = errors[mid] if len(errors) % 2 else (errors[mid - 1] + errors[mid]) / 2
    return {
        "n": len(pairs),
        "within_10pct": sum(e <= TOLERANCE for e in errors) / len(errors),
        "spearman": spearman([p for p, _ in pairs], [m for _, m in pairs]),
        "median_abs_pct_error": 100.0 * median,
    }
