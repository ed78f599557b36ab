"""The contract every strategy implements, and the bookkeeping they all share.

A strategy proposes genomes (`ask`) and learns from results (`tell`). It never spends budget twice on the
same network: every proposal is checked against the canonical keys of everything proposed so far.
`state_dict()` is JSON (RNG state included) so that a search stored mid-way and resumed continues
exactly as if it had never stopped.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from worker.nas.spaces.base import SearchSpace
from worker.nas.types import Genome, Result


class StrategyOptions(BaseModel):
    """Options of a strategy (the fields beside `type` in the spec). Subclassed per strategy."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # inf/NaN options are never meant


class SpaceExhausted(RuntimeError):
    """No unseen genome could be found: the space (or its reachable part) is used up."""


def rng_state(rng: random.Random) -> list[Any]:
    version, internal, gauss = rng.getstate()
    return [version, list(internal), gauss]


def set_rng_state(rng: random.Random, state: list[Any]) -> None:
    version, internal, gauss = state
    rng.setstate((version, tuple(internal), gauss))


class Strategy(ABC):
    name: ClassVar[str]
    Options: ClassVar[type[StrategyOptions]] = StrategyOptions
    description: ClassVar[str] = ""
    multi_objective: ClassVar[bool] = False
    # How many fresh samples to try before declaring the space exhausted.
    max_novelty_tries: ClassVar[int] = 2000

    def __init__(
        self,
        space: SearchSpace,
        options: StrategyOptions | None = None,
        seed: int = 0,
        objective: Any = None,
        free_metrics: Callable[[Genome], dict[str, float]] | None = None,
    ) -> None:
        self.space = space
        self.options = options if options is not None else self.Options()
        self.objective = objective
        # Metrics known without training (params, FLOPs, a latency measured on an untrained net): a strategy
        # may call this freely to skip infeasible or dominated genomes; it spends no evaluation budget.
        self.free_metrics = free_metrics
        self.rng = random.Random(seed)
        self.seen: set[str] = set()  # canonical keys of every genome ever proposed (or seeded)
        self.history: list[tuple[Genome, Result]] = []

    # --- the protocol ------------------------------------------------------------------------------------
    @abstractmethod
    def ask(self, n: int = 1) -> list[Genome]: ...

    def tell(self, genome: Genome, result: Result) -> None:
        self.seen.add(self.space.canonical(genome))
        self.history.append((genome, result))
        self._learn(genome, result)

    def _learn(self, genome: Genome, result: Result) -> None:
        """Strategy-specific update; the base class already recorded the result."""

    # --- dedup -------------------------------------------------------------------------------------------
    def is_new(self, genome: Genome) -> bool:
        return self.space.canonical(genome) not in self.seen

    def claim(self, genome: Genome) -> Genome:
        """Mark a genome as proposed so no later proposal repeats it (or an isomorph)."""
        self.seen.add(self.space.canonical(genome))
        return genome

    def novel(self, make: Callable[[], Genome]) -> Genome:
        """Call `make` until it yields an unseen network; fall back to random samples, then give up."""
        for _ in range(self.max_novelty_tries // 2):
            g = make()
            if self.is_new(g):
                return self.claim(g)
        for _ in range(self.max_novelty_tries // 2):
            g = self.space.sample(self.rng)
            if self.is_new(g):
                return self.claim(g)
        raise SpaceExhausted(f"no unseen architecture found after {self.max_novelty_tries} tries")

    # --- results -----------------------------------------------------------------------------------------
    def best(self) -> tuple[Genome, Result] | None:
        done = [(g, r) for g, r in self.history if r.ok]
        return max(done, key=lambda gr: gr[1].fitness) if done else None

    # --- persistence -------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "rng": rng_state(self.rng),
            "seen": sorted(self.seen),
            "history": [
                [g, {"status": r.status, "fitness": r.fitness, "metrics": r.metrics, "error": r.error}]
                for g, r in self.history
            ],
            "extra": self._extra_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        set_rng_state(self.rng, state["rng"])
        self.seen = set(state["seen"])
        self.history = [(g, Result(**r)) for g, r in state["history"]]
        self._load_extra_state(state.get("extra") or {})

    def compact_state(self) -> dict[str, Any]:
        """The state without the history and the seen keys: both are the candidates table, replayed by
        `restore`, so what a search stores stays small at any number of results."""
        return {"rng": rng_state(self.rng), "extra": self._extra_state()}

    def restore(
        self, history: list[tuple[Genome, Result]], proposed: set[str], state: dict[str, Any] | None
    ) -> None:
        """Resume from the candidates table: `history` in the order it was told, `proposed` every stored
        canonical key. Learned parameters come from `state` (a `compact_state`), so nothing is relearned."""
        self.history = list(history)
        self.seen = set(proposed)
        if state:
            set_rng_state(self.rng, state["rng"])
            self._load_extra_state(state.get("extra") or {})
        # Bred but not yet handed out (generational strategies): claimed, so never proposed twice.
        self.seen.update(self.space.canonical(g) for g in getattr(self, "buffer", []))

    def _extra_state(self) -> dict[str, Any]:
        return {}

    def _load_extra_state(self, extra: dict[str, Any]) -> None:
        pass


class GenerationalStrategy(Strategy):
    """Breeds a whole generation at a time (`_breed` fills `buffer` with claimed genomes) and hands it
    out one genome per `ask`, so `ask(1)` works repeatedly. Subclasses keep `buffer` in their state."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.buffer: list[Genome] = []  # bred, claimed, not yet handed out

    @abstractmethod
    def _breed(self) -> None: ...

    def ask(self, n: int = 1) -> list[Genome]:
        out: list[Genome] = []
        while len(out) < n:
            if not self.buffer:
                self._breed()
            out.append(self.buffer.pop(0))
        return out
