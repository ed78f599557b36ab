"""Multi-fidelity schedules over epochs: successive halving, Hyperband brackets, median stopping.

Pure bookkeeping (no training here): the runner asks which epochs to train to, which candidates to
promote, and whether a learning curve is bad enough to stop. A promoted candidate resumes from its
checkpoint; the learning-rate schedule always spans the spec's full epochs, so a run stopped at a rung
and resumed is the same run as one never stopped.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass


def rung_epochs(min_epochs: int, max_epochs: int, eta: int) -> list[int]:
    """Epoch budgets of the rungs: min, min·eta, min·eta², ... ending exactly at max_epochs."""
    if min_epochs >= max_epochs:
        return [max_epochs]
    rungs, r = [], min_epochs
    while r < max_epochs:
        rungs.append(r)
        r *= eta
    return [*rungs, max_epochs]


def promote(scores: Sequence[tuple[int, float | None]], eta: int) -> list[int]:
    """Ids of the best ⌈n/eta⌉ candidates (failed ones, score None, never go on), best first."""
    alive = sorted(((s, i) for i, s in scores if s is not None), key=lambda t: -t[0])
    keep = max(1, math.ceil(len(scores) / eta)) if alive else 0
    return [i for _, i in alive[:keep]]


@dataclass(frozen=True)
class Bracket:
    n: int  # candidates that start the bracket
    rungs: list[int]  # epochs each rung trains to


def successive_halving_bracket(min_epochs: int, max_epochs: int, eta: int) -> Bracket:
    """The most exploratory bracket: eta^(rungs-1) candidates at min_epochs, one left at max_epochs."""
    rungs = rung_epochs(min_epochs, max_epochs, eta)
    return Bracket(eta ** (len(rungs) - 1), rungs)


def hyperband_brackets(min_epochs: int, max_epochs: int, eta: int) -> list[Bracket]:
    """Hyperband (Li et al. 2018): from many cheap starts to few full-budget runs, equal budget each."""
    rungs = rung_epochs(min_epochs, max_epochs, eta)
    s_max = len(rungs) - 1
    return [
        Bracket(math.ceil((s_max + 1) / (s + 1) * eta**s), rungs[s_max - s :]) for s in range(s_max, -1, -1)
    ]


class MedianStopping:
    """Stop a run whose best value so far is below the median of other runs at the same epoch.

    Like Google Vizier's rule: only after `min_epochs`, and only once `min_curves` finished curves reach
    that epoch (before that there is nothing trustworthy to compare with).
    """

    def __init__(self, min_epochs: int = 1, min_curves: int = 3, metric: str = "val_accuracy") -> None:
        self.min_epochs = min_epochs
        self.min_curves = min_curves
        self.metric = metric
        self.curves: list[list[float]] = []

    def add_curve(self, curve: Sequence[dict[str, float]]) -> None:
        values = [float(m[self.metric]) for m in curve if self.metric in m]
        if values:
            self.curves.append(values)

    def should_stop(self, epoch: int, best_so_far: float) -> bool:
        if epoch < self.min_epochs:
            return False
        others = [max(c[:epoch]) for c in self.curves if len(c) >= epoch]
        if len(others) < self.min_curves:
            return False
        return best_so_far < statistics.median(others)
