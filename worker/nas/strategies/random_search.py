"""Random search: uniform samples from the space, never repeating a network (or an isomorph of one)."""

from __future__ import annotations

from worker.nas.strategies.base import Strategy
from worker.nas.types import Genome


class RandomSearch(Strategy):
    name = "random"
    description = "uniform random samples, duplicates and isomorphs skipped"

    def ask(self, n: int = 1) -> list[Genome]:
        return [self.novel(lambda: self.space.sample(self.rng)) for _ in range(n)]
