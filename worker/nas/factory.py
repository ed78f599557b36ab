"""Build the engine's parts (space, strategy, objective) from a validated search spec."""

from __future__ import annotations

from typing import Any

from worker.nas.registry import space_class, strategy_class
from worker.nas.spec import SearchSpec
from worker.nas.types import TaskShape


def make_space(spec: SearchSpec, task: TaskShape | None = None) -> Any:
    cls = space_class(spec.space.type)
    return cls(cls.Options.model_validate(spec.space.options_dict()), task)


def make_objective(spec: SearchSpec) -> Any:
    from worker.nas.objectives import Objective

    return Objective.from_spec(spec)


def make_strategy(spec: SearchSpec, space: Any, objective: Any | None = None) -> Any:
    cls = strategy_class(spec.strategy.type)
    options = cls.Options.model_validate(spec.strategy.options_dict())
    return cls(space, options, seed=spec.seed, objective=objective or make_objective(spec))
