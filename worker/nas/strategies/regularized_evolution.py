"""Regularized (aging) evolution, Real et al. 2019: asynchronous, one result in, one genome out.

The population is a queue of the most recent `population_size` evaluated genomes; each new genome is a
mutation of the best of `sample_size` members drawn at random, and the oldest member dies whatever its
fitness, which keeps the search from settling on one lucky early genome.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from worker.nas.strategies.base import Strategy, StrategyOptions
from worker.nas.types import Genome, Result


class RegularizedEvolutionOptions(StrategyOptions):
    population_size: int = Field(20, ge=2, le=100_000, description="genomes alive at once (oldest dies)")
    sample_size: int = Field(10, ge=1, le=100_000, description="members drawn for each parent tournament")


class RegularizedEvolution(Strategy):
    name: ClassVar[str] = "regularized-evolution"
    Options: ClassVar[type[StrategyOptions]] = RegularizedEvolutionOptions
    description: ClassVar[str] = "Aging evolution: mutate the tournament winner, retire the oldest"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.population: list[list[Any]] = []  # [genome, fitness], oldest first
        self.n_random = 0  # random genomes proposed to fill the first population

    def ask(self, n: int = 1) -> list[Genome]:
        return [self._one() for _ in range(n)]

    def _one(self) -> Genome:
        opts: RegularizedEvolutionOptions = self.options  # type: ignore[assignment]
        if not self.population or (
            len(self.population) < opts.population_size and self.n_random < opts.population_size
        ):
            self.n_random += 1
            return self.novel(lambda: self.space.sample(self.rng))
        contenders = self.rng.sample(self.population, min(opts.sample_size, len(self.population)))
        parent = max(contenders, key=lambda gf: gf[1])[0]
        return self.novel(lambda: self.space.mutate(parent, self.rng))

    def _learn(self, genome: Genome, result: Result) -> None:
        if not result.ok:  # a failed genome never enters the population
            return
        self.population.append([genome, float(result.fitness)])
        if len(self.population) > self.options.population_size:  # type: ignore[attr-defined]
            self.population.pop(0)

    def _extra_state(self) -> dict[str, Any]:
        return {"population": self.population, "n_random": self.n_random}

    def _load_extra_state(self, extra: dict[str, Any]) -> None:
        self.population = [list(x) for x in extra.get("population", [])]
        self.n_random = extra.get("n_random", 0)
