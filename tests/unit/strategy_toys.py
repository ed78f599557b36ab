"""Closed-form toy problems for strategy tests: no training, exact optima known."""

from __future__ import annotations

import random
from typing import Any

from worker.nas.spaces.base import SearchSpace
from worker.nas.types import Genome, Result


class ToySpace(SearchSpace):
    """`length` positions with `arity` choices each. With `swap_symmetric`, genomes that differ only by
    swapping positions 0 and 1 are isomorphs (equal canonical form), like mirrored cells."""

    name = "toy"

    def __init__(self, length: int = 6, arity: int = 4, swap_symmetric: bool = False) -> None:
        super().__init__()
        self.length, self.arity, self.swap_symmetric = length, arity, swap_symmetric

    def sample(self, rng: random.Random) -> Genome:
        return {"x": [rng.randrange(self.arity) for _ in range(self.length)]}

    def mutate(self, genome: Genome, rng: random.Random) -> Genome:
        x = list(genome["x"])
        i = rng.randrange(self.length)
        x[i] = rng.choice([v for v in range(self.arity) if v != x[i]])
        return {"x": x}

    def crossover(self, a: Genome, b: Genome, rng: random.Random) -> tuple[Genome, Genome]:
        cut = rng.randrange(1, self.length)
        return {"x": a["x"][:cut] + b["x"][cut:]}, {"x": b["x"][:cut] + a["x"][cut:]}

    def validate(self, genome: Any) -> Genome:
        return {"x": [int(v) for v in genome["x"]]}

    def canonical(self, genome: Genome) -> str:
        x = list(genome["x"])
        if self.swap_symmetric:
            x[:2] = sorted(x[:2])
        return ",".join(map(str, x))

    def decisions(self) -> list[int]:
        return [self.arity] * self.length

    def decode(self, choices: list[int]) -> Genome:
        return {"x": list(choices)}

    def encode(self, genome: Genome) -> list[int]:
        return list(genome["x"])

    def to_graph(self, genome: Genome) -> dict[str, Any]:
        return {"kind": "toy", "nodes": [], "edges": []}

    def cost(self, genome: Genome) -> dict[str, float]:
        return {"params": float(sum(genome["x"])), "flops": float(sum(genome["x"]))}


def matches(genome: Genome, target: list[int]) -> int:
    return sum(int(a == b) for a, b in zip(genome["x"], target, strict=True))


def run_search(strategy: Any, evaluate: Any, steps: int) -> list[Genome]:
    """ask(1)/tell `steps` times; returns the proposals in order."""
    proposed = []
    for _ in range(steps):
        genome = strategy.ask(1)[0]
        proposed.append(genome)
        strategy.tell(genome, evaluate(genome))
    return proposed


def onemax_result(target: list[int]) -> Any:
    def evaluate(genome: Genome) -> Result:
        f = float(matches(genome, target))
        return Result(fitness=f, metrics={"val_accuracy": f})

    return evaluate
