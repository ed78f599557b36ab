"""DEAP's selection and non-dominated sorting, driven by a strategy's own RNG.

DEAP draws from the global `random` module; a strategy must own its randomness so that a resumed search
repeats exactly. `borrowed_random` lends the strategy's RNG state to the global module for one call and
takes the advanced state back, leaving the global module as it was.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from deap import base, tools


@contextmanager
def borrowed_random(rng: random.Random) -> Iterator[None]:
    saved = random.getstate()
    random.setstate(rng.getstate())
    try:
        yield
    finally:
        rng.setstate(random.getstate())
        random.setstate(saved)


def _fitness_class(n_objectives: int) -> type[base.Fitness]:
    # Every value handed to DEAP is already "higher is better".
    return type(f"_Max{n_objectives}", (base.Fitness,), {"weights": (1.0,) * n_objectives})


class Individual:
    """A payload (usually an index into the strategy's pool) with a DEAP fitness attached."""

    def __init__(self, payload: Any, values: Sequence[float]) -> None:
        self.payload = payload
        self.fitness = _fitness_class(len(values))(tuple(values))


def tournament(rng: random.Random, scores: Sequence[float], k: int, size: int) -> list[int]:
    """Indices of `k` tournament winners (DEAP selTournament, `size` aspirants each)."""
    pop = [Individual(i, (s,)) for i, s in enumerate(scores)]
    with borrowed_random(rng):
        return [ind.payload for ind in tools.selTournament(pop, k, tournsize=min(size, len(pop)))]


def roulette(rng: random.Random, scores: Sequence[float], k: int) -> list[int]:
    """Indices of `k` roulette-wheel picks (DEAP selRoulette). Scores are shifted to be positive because
    the wheel needs positive slices; the worst gets a small slice, not none, so it can still be picked."""
    lo, hi = min(scores), max(scores)
    floor = (hi - lo) * 0.05 or 1.0
    pop = [Individual(i, (s - lo + floor,)) for i, s in enumerate(scores)]
    with borrowed_random(rng):
        return [ind.payload for ind in tools.selRoulette(pop, k)]


def nondominated_fronts(vectors: Sequence[Sequence[float]]) -> list[list[int]]:
    """Indices grouped into Pareto fronts, best first (DEAP sortNondominated; all values maximised)."""
    pop = [Individual(i, v) for i, v in enumerate(vectors)]
    return [[ind.payload for ind in front] for front in tools.sortNondominated(pop, len(pop))]


def nsga2_select(vectors: Sequence[Sequence[float]], k: int) -> list[int]:
    """Indices of the `k` survivors by rank, then crowding distance (DEAP selNSGA2; deterministic)."""
    pop = [Individual(i, v) for i, v in enumerate(vectors)]
    return [ind.payload for ind in tools.selNSGA2(pop, min(k, len(pop)))]
