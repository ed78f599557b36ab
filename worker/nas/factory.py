"""Build the engine's parts (space, strategy, objective) from a validated search spec."""

from __future__ import annotations

from typing import Any

from worker.nas.registry import space_class, strategy_class
from worker.nas.spaces.recipe import searched_fields, with_recipe
from worker.nas.spec import SearchSpec, is_table
from worker.nas.types import TaskShape


def make_space(spec: SearchSpec, task: TaskShape | None = None) -> Any:
    """The spec's space; with the recipe fields it searches as part of the genome (none: the space alone).
    A table's space is built from its rows (worker.nas.evaluation.table_search)."""
    if is_table(spec):
        from worker.nas.evaluation.table_search import load_table, table_space

        return table_space(spec, load_table(spec.dataset))
    cls = space_class(spec.space.type)
    base = cls(cls.Options.model_validate(spec.space.options_dict()), task)
    return with_recipe(base, searched_fields(spec.training, spec.dataset))


def make_objective(spec: SearchSpec) -> Any:
    from worker.nas.objectives import Objective

    return Objective.from_spec(spec)


def make_strategy(spec: SearchSpec, space: Any, objective: Any | None = None) -> Any:
    cls = strategy_class(spec.strategy.type)
    options = cls.Options.model_validate(spec.strategy.options_dict())
    return cls(space, options, seed=spec.seed, objective=objective or make_objective(spec))
