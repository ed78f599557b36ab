"""The follow-up search that scales a finished candidate (the candidate page's "scale this network").

`scale_spec` turns the candidate's search spec and genome into a spec of the `scaled` space around that
genome: the same dataset, recipe (the candidate's own values where the recipe was searched), final stage,
deployment and seed; a budget of `factor` x the candidate's measured FLOPs, params or latency, both as the
space's band and as the spec's hard constraint; the base network trained first as the reference; and the
objectives accuracy (fitness) and the budget metric (weight 0), so the Pareto view plots the scaled
networks' front against their cost beside the original. Plain dicts in and out: no DB, no HTTP.
"""

from __future__ import annotations

from typing import Any

from worker.nas.spaces.recipe import DATASET_FIELDS, TRAINING_FIELDS
from worker.nas.spaces.scaled_options import BASE_SPACES
from worker.nas.spec import parse_spec
from worker.nas.types import Genome

BUDGET_METRICS = ("flops", "params", "latency_ms")
CONSTRAINT_OF = {"flops": "max_flops", "params": "max_params", "latency_ms": "max_latency_ms"}
# Grids for shrinking (factor < 1): the same steps below 1.
SHRINK_GRIDS = {
    "widths": [0.5, 0.6, 0.7, 0.8, 0.9, 1.0],
    "depths": [0.5, 0.75, 1.0],
    "resolutions": [0.5, 0.6, 0.7, 0.8, 0.9, 1.0],
}
DEFAULT_CANDIDATES = 12  # the reference and about a dozen scaled networks: a small search, not a grid


def _fixed_recipe(spec: dict[str, Any], genome: Genome) -> tuple[dict[str, Any], dict[str, Any]]:
    """Training and dataset sections with the candidate's recipe values in place of searched ranges."""
    recipe = genome.get("recipe") or {}
    training, dataset = dict(spec.get("training") or {}), dict(spec.get("dataset") or {})
    for name in TRAINING_FIELDS:
        if name in recipe:
            training[name] = recipe[name]
    for name in DATASET_FIELDS:
        if name in recipe:
            dataset[name] = recipe[name]
    return training, dataset


def scale_spec(
    spec: dict[str, Any],
    genome: Genome,
    metrics: dict[str, float],
    *,
    factor: float = 2.0,
    metric: str = "flops",
    max_candidates: int = DEFAULT_CANDIDATES,
    name: str | None = None,
) -> dict[str, Any]:
    """The follow-up spec (validated, as a plain dict). ValueError names what does not fit."""
    space = dict(spec.get("space") or {"type": "layers"})
    base_space = space.pop("type", "layers")
    if base_space not in BASE_SPACES:
        raise ValueError(
            f"space: a {base_space!r} network cannot be scaled; allowed: {', '.join(BASE_SPACES)}"
        )
    if metric not in BUDGET_METRICS:
        raise ValueError(f"metric: expected one of {', '.join(BUDGET_METRICS)}, got {metric!r}")
    reference = metrics.get(metric)
    if reference is None or not reference > 0:
        raise ValueError(f"metric: the candidate has no measured {metric}, so its budget cannot be set")
    if not 0.05 < factor <= 64:
        raise ValueError(f"factor: expected a number in (0.05, 64], got {factor}")
    arch = {k: v for k, v in genome.items() if k != "recipe"}
    training, dataset = _fixed_recipe(spec, genome)
    scaled: dict[str, Any] = {
        "type": "scaled",
        "base_space": base_space,
        "base_options": space,
        "base_genome": arch,
        "budget_metric": metric,
        "factor": factor,
        "reference": True,
    }
    if factor < 1:
        scaled.update(SHRINK_GRIDS)
    limit = factor * float(reference)
    out = {
        "name": name or f"{spec.get('name', 'search')} · scaled ×{factor:g} {metric}",
        "space": scaled,
        "strategy": {"type": "regularized-evolution", "population_size": 4, "sample_size": 2},
        "dataset": dataset,
        "training": training,
        "objectives": [
            {"metric": "val_accuracy", "goal": "maximize"},
            {"metric": metric, "goal": "minimize", "weight": 0.0},
        ],
        "constraints": {CONSTRAINT_OF[metric]: int(limit) if metric == "params" else limit},
        "budget": {"max_candidates": max_candidates},
        "multi_fidelity": spec.get("multi_fidelity") or {"type": "none"},
        "final": spec.get("final") or {},
        "deployment": spec.get("deployment") or {},
        "parallelism": spec.get("parallelism", 1),
        "seed": spec.get("seed", 0),
    }
    dumped = parse_spec(out).model_dump(mode="json", exclude_none=True)
    dumped["constraints"] = {k: v for k, v in dumped["constraints"].items() if v != {}}  # no table columns
    return dumped
