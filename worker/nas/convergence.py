"""How a search improved over its evaluations: best-so-far, the hypervolume of the front so far, and the
band those curves make across searches repeated with other seeds.

An evaluation is a finished candidate (done, failed or infeasible) in the order it finished, the x axis
of the dashboard's "evaluation #"; a failed or infeasible one moves the axis on and the curve stays level.
Pareto dominance and the hypervolume are `objectives`' own functions: this module only replays them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from worker.nas.objectives import Objective, hypervolume, reference_point
from worker.nas.strategies.hypervolume_gain import gains

Vector = tuple[float, ...]


@dataclass(frozen=True)
class Evaluation:
    status: str
    fitness: float | None
    metrics: Mapping[str, Any] | None


def vectors(objective: Objective, evaluations: Sequence[Evaluation]) -> list[Vector | None]:
    """The oriented objective vector of each evaluation; None where it failed or breaks a constraint."""
    return [
        objective.vector({**(e.metrics or {}), "fitness": e.fitness}) if e.status == "done" else None
        for e in evaluations
    ]


def best_so_far(evaluations: Sequence[Evaluation]) -> list[float | None]:
    """The highest fitness among the first i+1 evaluations (None until one has a fitness)."""
    best: float | None = None
    out: list[float | None] = []
    for e in evaluations:
        if e.status == "done" and e.fitness is not None and math.isfinite(e.fitness):
            best = e.fitness if best is None else max(best, e.fitness)
        out.append(best)
    return out


def hypervolume_history(points: Sequence[Vector | None], reference: Sequence[float]) -> list[float]:
    """Hypervolume of the front of the first i+1 points, for every i.

    The front is kept as points arrive: a point that a front member dominates or equals, or that does not
    beat the reference everywhere, changes nothing; otherwise it joins and the members it dominates leave.
    With two objectives the volume grows by the point's exact gain (`_Front2D`), so even a 10,000-point
    front stays fast; with more, the front's volume is computed again."""
    ref = np.asarray(reference, dtype=float)
    if len(ref) == 2:
        front2d = _Front2D(ref)
        return [front2d.add(p) if p is not None else front2d.volume for p in points]
    front = np.empty((0, len(ref)))
    volume, out = 0.0, []
    for point in points:
        if point is not None:
            p = np.asarray(point, dtype=float)
            covered = len(front) and bool(np.any(np.all(front >= p, axis=1)))
            if not covered and bool(np.all(p > ref)):
                front = np.vstack([front[~np.all(p >= front, axis=1)], p])
                volume = hypervolume(front, ref)
        out.append(volume)
    return out


class _Front2D:
    """A two-objective front sorted by its first coordinate, so its second falls strictly: what a new
    point dominates is one run of members, ending where the members to its right begin, and its gain is
    `gains` against that run and the two members beside it (every other member's share of the point's
    box lies inside a neighbour's). Binary searches, not scans: O(log front) per point plus the copy."""

    def __init__(self, ref: np.ndarray) -> None:
        self.ref, self.volume = ref, 0.0
        self.x, self.neg_y = np.empty(0), np.empty(0)  # neg_y rises with x

    def add(self, point: Vector) -> float:
        px, py = float(point[0]), float(point[1])
        if not (px > self.ref[0] and py > self.ref[1]):
            return self.volume
        right = int(np.searchsorted(self.x, px, side="left"))  # first member with x >= px
        if right < len(self.x) and -self.neg_y[right] >= py:
            return self.volume  # that member dominates or equals the point
        end = right + 1 if right < len(self.x) and self.x[right] == px else right
        start = int(np.searchsorted(self.neg_y[:right], -py, side="left"))  # first with y <= py
        lo, hi = max(start - 1, 0), min(end + 1, len(self.x))
        local = np.column_stack([self.x[lo:hi], -self.neg_y[lo:hi]])
        self.volume += float(gains(local, np.array([[px, py]]), self.ref)[0])
        self.x = np.concatenate([self.x[:start], [px], self.x[end:]])
        self.neg_y = np.concatenate([self.neg_y[:start], [-py], self.neg_y[end:]])
        return self.volume


def steps(values: Sequence[float | None]) -> list[tuple[int, float | None]]:
    """(evaluation number from 1, value) where a step curve changes, and its last point: what a chart
    needs to draw it (the value holds until the next point)."""
    out: list[tuple[int, float | None]] = []
    for i, v in enumerate(values):
        if i == 0 or v != values[i - 1] or i == len(values) - 1:
            out.append((i + 1, v))
    return out


@dataclass(frozen=True)
class BandPoint:
    evaluation: int  # from 1
    n: int  # curves that have reached this evaluation with a value
    mean: float
    std: float  # sample standard deviation (n - 1); 0 for a single curve
    min: float
    max: float


def band(curves: Sequence[Sequence[float | None]]) -> list[BandPoint]:
    """Mean, standard deviation, min and max across curves at each evaluation where any of them changes
    (and at the last one), over the curves that reached that evaluation with a value."""
    length = max((len(c) for c in curves), default=0)
    out: list[BandPoint] = []
    for i in range(length):
        changed = i == length - 1 or any(i < len(c) and (i == 0 or c[i] != c[i - 1]) for c in curves)
        values = [c[i] for c in curves if i < len(c) and c[i] is not None]
        if not changed or not values:
            continue
        arr = np.asarray(values, dtype=float)
        std = float(arr.std(ddof=1)) if len(arr) > 1 else 0.0
        out.append(BandPoint(i + 1, len(arr), float(arr.mean()), std, float(arr.min()), float(arr.max())))
    return out


def hypervolume_curves(
    objective: Objective, runs: Sequence[Sequence[Evaluation]], reference: Sequence[float] | None = None
) -> tuple[list[list[float]], np.ndarray | None]:
    """Each run's hypervolume over its evaluations against one reference (oriented), so runs compare:
    the given one, else `reference_point` of every feasible point of every run (None: there is none)."""
    points = [vectors(objective, run) for run in runs]
    if reference is None:
        feasible = [p for run in points for p in run if p is not None]
        if not feasible:
            return [[0.0] * len(run) for run in runs], None
        reference = reference_point(feasible)
    ref = np.asarray(reference, dtype=float)
    return [hypervolume_history(run, ref) for run in points], ref
