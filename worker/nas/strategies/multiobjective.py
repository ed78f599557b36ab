"""What multi-objective strategies share: objective vectors, and feasibility judged from free metrics."""

from __future__ import annotations

from typing import Any

from worker.nas.objectives import constraint_metric
from worker.nas.types import Genome, Result


def result_vector(objective: Any, result: Result) -> tuple[float, ...] | None:
    """The result's objective vector (bigger is better), `(fitness,)` without a multi-objective; None when
    the candidate failed or broke a constraint."""
    if not result.ok:
        return None
    if objective is None or not getattr(objective, "multi", False):
        return (float(result.fitness),)
    vec = objective.vector(result.metrics)
    return tuple(float(v) for v in vec) if vec is not None else None


def free_metrics_of(strategy: Any, genome: Genome) -> dict[str, float] | None:
    """Metrics known without training, or None when the strategy has no source or the source fails."""
    if strategy.free_metrics is None:
        return None
    try:
        return dict(strategy.free_metrics(genome))
    except Exception:  # a genome the source cannot cost is judged after evaluation instead
        return None


def feasible_for_free(strategy: Any, genome: Genome) -> bool:
    """False only when free metrics prove a hard constraint broken; unknown counts as feasible."""
    if strategy.objective is None or not getattr(strategy.objective, "constraints", None):
        return True
    metrics = free_metrics_of(strategy, genome)
    if metrics is None:
        return True
    for name, bound in strategy.objective.constraints.items():
        value = metrics.get(constraint_metric(name))
        if value is not None and value > bound:  # a metric the source does not know is judged later
            return False
    return True
