"""Fitness from metrics: weighted sums, baselines, hard constraints, Pareto ranking and hypervolume.

Everything is oriented so that bigger is better: a `minimize` objective enters negated. Pareto ranking uses
DEAP's `sortNondominated`; the hypervolume uses `moocore` (the library DEAP's own hypervolume calls).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

Goal = Literal["maximize", "minimize"]
# The direction each known metric naturally has; used when an objective names no goal.
METRIC_GOALS: dict[str, Goal] = {
    "val_accuracy": "maximize",
    "val_f1": "maximize",  # macro-F1 on the validation split
    "val_loss": "minimize",
    "train_loss": "minimize",
    "params": "minimize",
    "flops": "minimize",
    "latency_ms": "minimize",
    "latency_ms_ort": "minimize",  # batch 1 in ONNX Runtime (deployment.ort_latency)
    "peak_memory_mb": "minimize",
}
# Hard constraints: constraint name -> the metric it bounds from above.
CONSTRAINT_METRICS = {
    "max_params": "params",
    "max_flops": "flops",
    "max_latency_ms": "latency_ms",
    "max_latency_ms_ort": "latency_ms_ort",
}
# A bound on any metric by name (a table's column): constraint `max:<metric>`, from spec constraints.columns.
COLUMN_BOUND = "max:"


def constraint_metric(name: str) -> str:
    """The metric a hard constraint bounds from above: CONSTRAINT_METRICS, or `max:<metric>`'s metric."""
    if name.startswith(COLUMN_BOUND):
        return name[len(COLUMN_BOUND) :]
    return CONSTRAINT_METRICS[name]


def natural_goal(metric: str) -> Goal:
    """A metric's natural direction: METRIC_GOALS, then every latency (latency_ms_b64, latency_ms_ort_b{N},
    latency_ms_int8) down, anything else up."""
    if metric in METRIC_GOALS:
        return METRIC_GOALS[metric]
    return "minimize" if metric.startswith("latency_ms") else "maximize"


@dataclass(frozen=True)
class Term:
    """One objective: a metric, its direction, its weight in the scalar sum and an optional baseline."""

    metric: str
    goal: Goal | None = None  # None: the metric's natural direction (natural_goal)
    weight: float = 1.0
    baseline: float | None = None

    def __post_init__(self) -> None:
        if self.goal is None:
            object.__setattr__(self, "goal", natural_goal(self.metric))

    def oriented(self, value: float) -> float:
        shifted = value - (self.baseline or 0.0)
        return shifted if self.goal == "maximize" else -shifted

    def natural(self, oriented: float) -> float:
        """The inverse of `oriented`: a coordinate back in the metric's own units."""
        return (oriented if self.goal == "maximize" else -oriented) + (self.baseline or 0.0)


class Objective:
    """Turns a candidate's metrics into a scalar fitness and an objective vector (bigger is better)."""

    def __init__(
        self,
        terms: Sequence[Term | tuple[Any, ...]],
        constraints: Mapping[str, float | None] | None = None,
    ) -> None:
        if not terms:
            raise ValueError("objectives: need at least one (metric, goal, weight, baseline)")
        self.terms = tuple(t if isinstance(t, Term) else Term(*t) for t in terms)
        for t in self.terms:
            if t.goal not in ("maximize", "minimize"):
                raise ValueError(f"objectives.goal: {t.goal!r} for {t.metric}; allowed: maximize, minimize")
        self.constraints: dict[str, float] = {}
        flat = dict(constraints or {})
        for column, bound in (flat.pop("columns", None) or {}).items():  # the spec's column bounds
            flat[COLUMN_BOUND + column] = bound
        for name, bound in flat.items():
            if name not in CONSTRAINT_METRICS and not name.startswith(COLUMN_BOUND):
                raise ValueError(f"constraints: unknown {name!r}; allowed: {', '.join(CONSTRAINT_METRICS)}")
            if bound is not None:
                self.constraints[name] = float(bound)

    @classmethod
    def from_spec(cls, spec: Any) -> Objective:
        # The spec resolved every goal when it was parsed (a metric's natural direction by default).
        terms = [Term(o.metric, o.goal, o.weight, o.baseline) for o in spec.objectives]
        return cls(terms, spec.constraints.model_dump())

    @property
    def names(self) -> list[str]:
        return [t.metric for t in self.terms]

    @property
    def multi(self) -> bool:
        return len(self.terms) > 1

    def feasible(self, metrics: Mapping[str, float]) -> bool:
        """True when every hard constraint holds; a constraint whose metric is missing cannot hold."""
        return self.violation(metrics) is None

    def violation(self, metrics: Mapping[str, float], only: Sequence[str] | None = None) -> str | None:
        """The first hard constraint `metrics` break, as `metric figure > name bound`; None if all hold.
        `only`: check just these constraints (those known before training)."""
        for name, bound in self.constraints.items():
            if only is not None and name not in only:
                continue
            metric = constraint_metric(name)
            value = metrics.get(metric)
            if value is None or not math.isfinite(value):
                return f"{metric} not measured, so {name} {bound:g} cannot be checked"
            if value > bound:
                return f"{metric} {value:.4g} > {name} {bound:g}"
        return None

    def vector(self, metrics: Mapping[str, float]) -> tuple[float, ...] | None:
        """One entry per objective, unweighted but oriented (and baseline-shifted); None if infeasible."""
        if not self.feasible(metrics):
            return None
        values = []
        for t in self.terms:
            v = metrics.get(t.metric)
            if v is None or not math.isfinite(v):
                return None
            values.append(t.oriented(float(v)))
        return tuple(values)

    def fitness(self, metrics: Mapping[str, float]) -> float | None:
        """Weighted sum of the oriented objectives; size/latency terms with `minimize` act as penalties."""
        vec = self.vector(metrics)
        if vec is None:
            return None
        return float(sum(t.weight * v for t, v in zip(self.terms, vec, strict=True)))


# --- Pareto tools (all inputs oriented: bigger is better in every coordinate) -----------------------------
def nondominated_sort(vectors: Sequence[Sequence[float]]) -> list[list[int]]:
    """Indices grouped into successive Pareto fronts (DEAP's sortNondominated)."""
    if not vectors:
        return []
    from deap import base, tools

    k = len(vectors[0])
    fitness_cls = type("_Fit", (base.Fitness,), {"weights": (1.0,) * k})

    class _Ind:
        __slots__ = ("fitness", "index")

        def __init__(self, index: int, values: Sequence[float]) -> None:
            self.index = index
            self.fitness = fitness_cls(tuple(values))

    inds = [_Ind(i, v) for i, v in enumerate(vectors)]
    fronts = tools.sortNondominated(inds, len(inds))
    return [sorted(ind.index for ind in front) for front in fronts]


def pareto_front(vectors: Sequence[Sequence[float]]) -> list[int]:
    """Indices of the non-dominated vectors (duplicates of a front point are all kept).

    A sweep in decreasing lexicographic order that checks each point against the front found so far:
    O(n * front) instead of sortNondominated's O(n^2), so whole benchmark tables stay fast.
    """
    if len(vectors) == 0:
        return []
    arr = np.asarray(vectors, dtype=float)
    order = np.lexsort(tuple(-arr[:, j] for j in reversed(range(arr.shape[1]))))
    front: list[int] = []
    for i in order:
        p = arr[i]
        if front:
            f = arr[front]
            dominated = np.any(np.all(f >= p, axis=1) & np.any(f > p, axis=1))
            if dominated:
                continue
        front.append(int(i))
    return sorted(front)


REFERENCE_RULE = "the worst value of each objective among the points, moved out by 1% of its range"


def reference_point(points: Sequence[Sequence[float]] | np.ndarray) -> np.ndarray:
    """A hypervolume reference below every point (REFERENCE_RULE), so the extreme points of a front
    count too; an objective with no range moves out by 1.0."""
    arr = np.asarray(points, dtype=float)
    span = arr.max(axis=0) - arr.min(axis=0)
    return arr.min(axis=0) - 0.01 * np.where(span > 0, span, 1.0)


def hypervolume(points: Sequence[Sequence[float]], reference: Sequence[float]) -> float:
    """Volume dominated by `points` (maximized coordinates) and bounded below by `reference`.

    Points that do not strictly beat the reference in every coordinate add nothing.
    """
    ref = np.asarray(reference, dtype=float)
    arr = np.asarray(points, dtype=float).reshape(-1, len(ref))
    arr = arr[np.all(arr > ref, axis=1)]
    if len(arr) == 0:
        return 0.0
    import moocore

    return float(moocore.hypervolume(arr, ref=ref, maximise=True))
