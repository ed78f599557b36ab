"""Generational genetic algorithm: selection (tournament or roulette wheel), crossover, mutation, elitism.

Generations are bred whole and handed out one genome at a time, so `ask(1)` works repeatedly. A new
generation is bred when the previous one is used up, from every evaluated member of it plus the elites;
with results still outstanding (asynchronous workers) it breeds from those already in.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from worker.nas.strategies.base import GenerationalStrategy, SpaceExhausted, StrategyOptions
from worker.nas.strategies.deap_ops import roulette, tournament
from worker.nas.types import Genome, Result


class GeneticOptions(StrategyOptions):
    population_size: int = Field(20, ge=2, le=10_000, description="genomes per generation")
    selection: Literal["tournament", "roulette"] = Field(
        "tournament", description="parent selection: tournament or roulette wheel (fitness-proportional)"
    )
    tournament_size: int = Field(3, ge=2, le=1000, description="aspirants per tournament")
    crossover_rate: float = Field(0.5, ge=0.0, le=1.0, description="probability that two parents are crossed")
    mutation_rate: float = Field(0.9, ge=0.0, le=1.0, description="probability that a child is mutated")
    elitism: int = Field(2, ge=0, le=1000, description="best genomes carried into the next generation")


class GeneticAlgorithm(GenerationalStrategy):
    name: ClassVar[str] = "genetic"
    Options: ClassVar[type[StrategyOptions]] = GeneticOptions
    description: ClassVar[str] = (
        "Generational GA with tournament or roulette selection, crossover and elitism"
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.generation = 0
        self.members: list[str] = []  # canonical keys of the current generation
        self.evaluated: list[list[Any]] = []  # [genome, fitness] of the current generation's ok results
        self.elite: list[list[Any]] = []  # [genome, fitness] carried from earlier generations

    def _learn(self, genome: Genome, result: Result) -> None:
        if result.ok and self.space.canonical(genome) in self.members:
            self.evaluated.append([genome, float(result.fitness)])

    def _breed(self) -> None:
        opts: GeneticOptions = self.options  # type: ignore[assignment]
        pool = self.elite + self.evaluated
        children: list[Genome] = []
        try:
            if len(pool) < 2:  # first generation, or nothing survived: start from random genomes
                while len(children) < opts.population_size:
                    children.append(self.novel(lambda: self.space.sample(self.rng)))
            else:
                pool.sort(key=lambda gf: -gf[1])
                self.elite = pool[: opts.elitism]
                n_children = max(1, opts.population_size - len(self.elite))
                while len(children) < n_children:
                    self._offspring(pool, opts, children, n_children)
        except SpaceExhausted:
            if not children:  # nothing new is left at all
                raise
        self.generation += 1
        self.buffer = children
        self.members = [self.space.canonical(g) for g in children]
        self.evaluated = []

    def _offspring(
        self, pool: list[list[Any]], opts: GeneticOptions, children: list[Genome], limit: int
    ) -> None:
        """Up to two children of two selected parents, appended to `children` (never beyond `limit`, so
        no genome is claimed that will not be proposed)."""
        scores = [f for _, f in pool]
        if opts.selection == "roulette":
            picks = roulette(self.rng, scores, 2)
        else:
            picks = tournament(self.rng, scores, 2, opts.tournament_size)
        a, b = pool[picks[0]][0], pool[picks[1]][0]
        if self.rng.random() < opts.crossover_rate:
            a, b = self.space.crossover(a, b, self.rng)
        for child in (a, b):
            if len(children) >= limit:
                return
            if self.rng.random() < opts.mutation_rate:
                child = self.space.mutate(child, self.rng)
            # A child equal to something already proposed costs nothing to fix: mutate until it is new.
            children.append(self.claim(child) if self.is_new(child) else self._mutant_of(child))

    def _mutant_of(self, genome: Genome) -> Genome:
        return self.novel(lambda: self.space.mutate(genome, self.rng))

    def _extra_state(self) -> dict[str, Any]:
        return {
            "generation": self.generation,
            "buffer": self.buffer,
            "members": self.members,
            "evaluated": self.evaluated,
            "elite": self.elite,
        }

    def _load_extra_state(self, extra: dict[str, Any]) -> None:
        self.generation = extra.get("generation", 0)
        self.buffer = list(extra.get("buffer", []))
        self.members = list(extra.get("members", []))
        self.evaluated = [list(x) for x in extra.get("evaluated", [])]
        self.elite = [list(x) for x in extra.get("elite", [])]
