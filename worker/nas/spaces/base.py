"""The contract every search space implements."""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from worker.nas.types import Genome, TaskShape

# One named decision's value in a genome: an op, a width, a flag (see `SearchSpace.decision_features`).
DecisionValue = str | int | float | bool


class SpaceOptions(BaseModel):
    """Options of a space (the fields beside `type` in the spec). Subclassed per space."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # inf/NaN options are never meant


def nonempty_unique(name: str, values: list) -> None:
    """Option-grid check shared by the spaces: a grid must offer at least one value, each once."""
    if not values:
        raise ValueError(f"{name} must not be empty")
    if len(set(values)) != len(values):
        raise ValueError(f"{name} must not repeat values; got {values}")


def check_range(name: str, values: list[int], lo: int, hi: int) -> None:
    bad = [v for v in values if not lo <= v <= hi]
    if bad:
        raise ValueError(f"{name} must lie in [{lo}, {hi}]; got {bad}")


class SearchSpace(ABC):
    """A family of architectures with the operators a strategy needs.

    Genomes are plain JSON. Every genome returned by `sample`, `mutate` and `crossover` is valid:
    `build` gives a network whose forward pass works for the task's input shape.
    """

    name: ClassVar[str]
    Options: ClassVar[type[SpaceOptions]] = SpaceOptions
    description: ClassVar[str] = ""

    def __init__(self, options: SpaceOptions | None = None, task: TaskShape | None = None) -> None:
        self.options = options if options is not None else self.Options()
        self.task = task or TaskShape()

    # --- operators -------------------------------------------------------------------------------------
    @abstractmethod
    def sample(self, rng: random.Random) -> Genome: ...

    @abstractmethod
    def mutate(self, genome: Genome, rng: random.Random) -> Genome: ...

    @abstractmethod
    def crossover(self, a: Genome, b: Genome, rng: random.Random) -> tuple[Genome, Genome]: ...

    # --- identity --------------------------------------------------------------------------------------
    @abstractmethod
    def validate(self, genome: Any) -> Genome:
        """Return the genome in normal form, or raise ValueError naming what is wrong."""

    @abstractmethod
    def canonical(self, genome: Genome) -> str:
        """A string equal for functionally identical (isomorphic) networks: the dedup key."""

    # --- encodings for policy-based strategies -----------------------------------------------------------
    @abstractmethod
    def decisions(self) -> list[int]:
        """Cardinalities of a fixed-length sequence of categorical decisions that encodes a genome."""

    @abstractmethod
    def decode(self, choices: list[int]) -> Genome:
        """Genome for one choice index per decision (always valid)."""

    @abstractmethod
    def encode(self, genome: Genome) -> list[int]:
        """Inverse of `decode` (up to canonical equivalence)."""

    # --- surrogate support -----------------------------------------------------------------------------
    def effective_encode(self, genome: Genome) -> list[int]:
        """`encode` as the network computes it: a decision that cannot change the output (see
        `effective_features`) takes its neutral choice, so equivalent networks encode alike. Surrogates
        compare genomes by this; spaces whose decisions are never idle keep the default."""
        return self.encode(genome)

    def path_encode(self, genome: Genome) -> list[float] | None:
        """For spaces of cells (DAGs of operations): per sequence of operations, in a fixed order, how many
        input-to-output paths of the network apply it (identity edges left out of the sequence, paths
        through a removed edge not counted). Networks that differ on several decisions can compute
        much the same paths; surrogates compare genomes by this too where a space has it. None (the
        default): the space has no such paths."""
        return None

    def features(self, genome: Genome) -> list[float]:
        """Numbers describing a genome for regression surrogates; by default one-hot of its decisions."""
        out: list[float] = []
        for code, size in zip(self.encode(genome), self.decisions(), strict=True):
            out.extend(1.0 if i == code else 0.0 for i in range(size))
        return out

    def genomes(self) -> list[Genome] | None:
        """Every genome of the space when it is a short explicit list (a table's rows), else None."""
        return None

    def seeds(self) -> list[Genome]:
        """Genomes the search trains before asking the strategy: e.g. the network a scaling search
        starts from, trained with the same recipe as the reference its scaled networks are judged by."""
        return []

    # --- description and cost ------------------------------------------------------------------------
    @abstractmethod
    def to_graph(self, genome: Genome) -> dict[str, Any]:
        """`{"kind": ..., "nodes": [{"id", "label", ...}], "edges": [{"source", "target", "label"}]}`."""

    @abstractmethod
    def cost(self, genome: Genome) -> dict[str, float]:
        """Parameters and FLOPs for the task shape, computed without training: `{"params", "flops"}`."""

    def build(self, genome: Genome):  # -> torch.nn.Module; torch imported lazily by implementations
        raise NotImplementedError(f"space {self.name!r} has no network builder (tabular only)")

    def describe(self, genome: Genome) -> str:
        """Short human label for tables and charts."""
        return self.canonical(genome)

    # --- analysis --------------------------------------------------------------------------------------
    def decision_features(self, genome: Genome) -> dict[str, DecisionValue]:
        """The genome's design decisions by human name (e.g. `{"edge 0→1": "nor_conv_3x3"}`), for
        decision importance. A decision that does not apply to this genome (a layer it lacks) is left out.
        Unlike `decisions`/`encode`, names are stable across spaces' options and values are the real ones.
        """
        raise NotImplementedError(f"space {self.name!r} does not name its decisions")

    # Spaces whose decisions can be idle (an edge no path uses) override this; importance then fits its
    # model on what the network computes and still reports per decision (worker.nas.importance).
    maps_effective_features = False

    def effective_features(self, features: dict[str, DecisionValue]) -> dict[str, DecisionValue]:
        """`decision_features` as the network computes them: a decision that cannot change the output
        takes its neutral value. Keys this space does not know pass through unchanged."""
        return features
