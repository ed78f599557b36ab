"""Plain data shared by every part of the engine."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

# A genome is plain JSON (dicts, lists, strings, numbers) so it can be stored, sent and diffed as is.
Genome = dict[str, Any]
Metrics = dict[str, float]


@dataclass(frozen=True)
class TaskShape:
    """What a network must accept and produce: input (C, H, W) and the number of classes."""

    input_shape: tuple[int, int, int] = (1, 28, 28)
    n_classes: int = 10


@dataclass
class Result:
    """The outcome of evaluating one genome, as a strategy sees it.

    `fitness` is the scalar the objective computed (higher is better); `None` when the candidate failed
    or breaks a hard constraint (status `infeasible`, the figure and the bound in `error`). `metrics` holds
    every raw figure (val_accuracy, params, flops, ...).
    """

    status: Literal["done", "failed", "infeasible"] = "done"
    fitness: float | None = None
    metrics: Metrics = field(default_factory=dict)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "done" and self.fitness is not None
