"""NSGA-II (Deb et al. 2002): multi-objective evolution by non-dominated rank and crowding distance.

Objectives come from `Objective.vector` (accuracy up; params, FLOPs, latency down). Hard constraints are
checked on free metrics (known without training) before a genome is proposed, so no budget goes to a
network that breaks one. Offspring are bred a generation at a time and handed out one by one; survivors
are chosen from parents and evaluated offspring with DEAP's selNSGA2. `pareto_front()` gives the result.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from worker.nas.strategies.base import GenerationalStrategy, SpaceExhausted, StrategyOptions
from worker.nas.strategies.deap_ops import nondominated_fronts, nsga2_select
from worker.nas.strategies.multiobjective import feasible_for_free, result_vector
from worker.nas.types import Genome, Result

# Tries per child at finding a genome the free metrics say is feasible, before accepting any new one.
FEASIBLE_TRIES = 50


class NSGA2Options(StrategyOptions):
    population_size: int = Field(20, ge=2, le=10_000, description="survivors kept per generation")
    crossover_rate: float = Field(0.5, ge=0.0, le=1.0, description="probability that two parents are crossed")
    mutation_rate: float = Field(1.0, ge=0.0, le=1.0, description="probability that a child is mutated")


class NSGA2(GenerationalStrategy):
    name: ClassVar[str] = "nsga2"
    Options: ClassVar[type[StrategyOptions]] = NSGA2Options
    description: ClassVar[str] = "Multi-objective evolution (non-dominated sorting, crowding distance)"
    multi_objective: ClassVar[bool] = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.parents: list[list[Any]] = []  # [genome, vector] survivors of the last selection
        self.offspring: list[list[Any]] = []  # [genome, vector] evaluated since that selection
        self.n_random = 0  # random genomes proposed for the first population

    def _learn(self, genome: Genome, result: Result) -> None:
        vec = result_vector(self.objective, result)
        if vec is not None:  # failed or infeasible genomes never breed
            self.offspring.append([genome, list(vec)])

    def _breed(self) -> None:
        opts: NSGA2Options = self.options  # type: ignore[assignment]
        pool = self.parents + self.offspring
        if self.n_random < opts.population_size or len(pool) < 2:  # the first population is random
            self.n_random += 1
            self.buffer = [self._new(lambda: self.space.sample(self.rng))]
            return
        keep = nsga2_select([v for _, v in pool], opts.population_size)
        self.parents, self.offspring = [pool[i] for i in keep], []
        children: list[Genome] = []
        try:
            while len(children) < opts.population_size:
                a, b = (g for g, _ in self.rng.sample(self.parents, 2))
                if self.rng.random() < opts.crossover_rate:
                    a, b = self.space.crossover(a, b, self.rng)
                for child in (a, b):
                    if len(children) >= opts.population_size:  # claim nothing that will not be proposed
                        break
                    if self.rng.random() < opts.mutation_rate or not self.is_new(child):
                        children.append(self._new(lambda c=child: self.space.mutate(c, self.rng)))
                    else:
                        children.append(self._new(lambda c=child: c, first=child))
        except SpaceExhausted:
            if not children:  # nothing new is left at all
                raise
        self.buffer = children

    def _new(self, make: Any, first: Genome | None = None) -> Genome:
        """An unseen genome from `make`, preferring ones whose free metrics meet every hard constraint."""
        for _ in range(FEASIBLE_TRIES):
            g = first if first is not None else make()
            first = None
            if self.is_new(g) and feasible_for_free(self, g):
                return self.claim(g)
        for _ in range(FEASIBLE_TRIES):
            g = self.space.sample(self.rng)
            if self.is_new(g) and feasible_for_free(self, g):
                return self.claim(g)
        return self.novel(make)

    def pareto_front(self) -> list[tuple[Genome, Result]]:
        """Evaluated (genome, result) pairs that no other feasible result dominates."""
        scored = [(g, r, result_vector(self.objective, r)) for g, r in self.history]
        scored = [(g, r, v) for g, r, v in scored if v is not None]
        if not scored:
            return []
        front = nondominated_fronts([v for _, _, v in scored])[0]
        return [(scored[i][0], scored[i][1]) for i in sorted(front)]

    def _extra_state(self) -> dict[str, Any]:
        return {
            "buffer": self.buffer,
            "parents": self.parents,
            "offspring": self.offspring,
            "n_random": self.n_random,
        }

    def _load_extra_state(self, extra: dict[str, Any]) -> None:
        self.buffer = list(extra.get("buffer", []))
        self.parents = [list(x) for x in extra.get("parents", [])]
        self.offspring = [list(x) for x in extra.get("offspring", [])]
        self.n_random = extra.get("n_random", 0)
