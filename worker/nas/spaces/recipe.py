"""The training recipe as part of the genome: a space that wraps any architecture space and adds the spec's
searched recipe fields (`lr: {log_uniform: [1e-4, 1e-2]}`, `batch_size: {choices: [64, 128]}`, ...).

Genome: the base space's genome with one more key, `recipe: {field: value}` (e.g. `{"layers": [...],
"recipe": {"lr": 0.0021, "augment": true}}`). Every operator delegates the architecture to the base space
and adds the recipe part, so strategies mutate and cross both, dedup sees both (`canonical`), the
surrogates and the REINFORCE controller see both (`encode`, `features`), and decision importance and the
parallel coordinates list the recipe fields first (`decision_features`). A spec that searches nothing gets
the base space itself (`with_recipe`), so its genomes, keys and proposals are exactly as before.

Ranges are drawn and mutated in their own scale (log-uniform in log space) and kept to 3 significant
digits, so a genome stays readable and two candidates 0.1 % apart in lr are one candidate. Encodings see
a range as `LEVELS` equal bins of that scale.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass
from typing import Any

from worker.nas.search_domain import SearchDomain
from worker.nas.spaces.base import DecisionValue, SearchSpace
from worker.nas.types import Genome

TRAINING_FIELDS = ("batch_size", "optimizer", "lr", "momentum", "weight_decay", "schedule", "label_smoothing")
DATASET_FIELDS = ("augment", "erasing")
LEVELS = 8  # bins of a range in the categorical encodings (surrogates, REINFORCE)
MUTATION_STEP = 0.15  # a range's mutation: a normal step of this share of its (log) width
RECIPE_MUTATION_SHARE = 0.5  # share of mutations that change one recipe value (the rest: the network)


def _round(x: float) -> float:
    return float(f"{x:.3g}")


@dataclass(frozen=True)
class Dimension:
    """One searched field: where its values come from and how they move."""

    name: str
    domain: SearchDomain

    @property
    def form(self) -> str:
        return self.domain.form

    @property
    def bounds(self) -> tuple[float, float]:
        lo, hi = self.domain.values
        return lo, hi

    # position in [0, 1] of the range's own scale, and back
    def _unit(self, value: float) -> float:
        lo, hi = self.bounds
        if self.form == "log_uniform":
            return (math.log(value) - math.log(lo)) / (math.log(hi) - math.log(lo))
        return (value - lo) / (hi - lo)

    def _at(self, u: float) -> Any:
        lo, hi = self.bounds
        u = min(1.0, max(0.0, u))
        if self.form == "int_uniform":
            return int(min(hi, max(lo, round(lo + u * (hi - lo)))))
        x = (
            math.exp(math.log(lo) + u * (math.log(hi) - math.log(lo)))
            if self.form == "log_uniform"
            else lo + u * (hi - lo)
        )
        return min(hi, max(lo, _round(x)))  # rounding must not leave the range

    def sample(self, rng: random.Random) -> Any:
        if self.form == "choices":
            return rng.choice(self.domain.values)
        if self.form == "int_uniform":
            lo, hi = self.bounds
            return rng.randint(int(lo), int(hi))
        return self._at(rng.random())

    def mutate(self, value: Any, rng: random.Random) -> Any:
        """A different value: another choice, or a normal step in the range's scale."""
        if self.form == "choices":
            return rng.choice([v for v in self.domain.values if v != value])
        for _ in range(10):
            moved = self._at(self._unit(value) + rng.gauss(0.0, MUTATION_STEP))
            if moved != value:
                return moved
        return self.sample(rng)

    def check(self, value: Any) -> Any:
        """The value in normal form, or ValueError: a choice, or a number inside the range."""
        if self.form == "choices":
            for (
                v
            ) in self.domain.values:  # 0 and 0.0 are one choice (JSON may drop the ".0"); True and 1 are not
                if v == value and isinstance(v, bool) == isinstance(value, bool):
                    return v
            raise ValueError(f"recipe.{self.name}: {value!r} is not one of {self.domain.values}")
        lo, hi = self.bounds
        number_ok = isinstance(value, int | float) and not isinstance(value, bool)
        if self.form == "int_uniform" and not isinstance(value, int):
            number_ok = False
        if not number_ok or not lo <= value <= hi:
            raise ValueError(f"recipe.{self.name}: {value!r} is outside {self.form} [{lo}, {hi}]")
        return value

    # encodings
    def levels(self) -> int:
        if self.form == "choices":
            return len(self.domain.values)
        if self.form == "int_uniform":
            lo, hi = self.bounds
            return int(min(LEVELS, hi - lo + 1))
        return LEVELS

    def encode(self, value: Any) -> int:
        if self.form == "choices":
            return self.domain.values.index(value)
        n = self.levels()
        return min(n - 1, int(self._unit(value) * n))

    def decode(self, code: int) -> Any:
        if self.form == "choices":
            return self.domain.values[code]
        return self._at((code + 0.5) / self.levels())

    def features(self, value: Any) -> list[float]:
        if self.form == "choices":
            return [1.0 if value == v else 0.0 for v in self.domain.values]
        return [self._unit(value)]


def searched_fields(training: Any, dataset: Any) -> dict[str, SearchDomain]:
    """The searched recipe fields of a spec's training and dataset sections (models or stored dicts)."""

    def read(section: Any, name: str) -> Any:
        return section.get(name) if isinstance(section, dict) else getattr(section, name, None)

    out: dict[str, SearchDomain] = {}
    for section, names in ((training, TRAINING_FIELDS), (dataset, DATASET_FIELDS)):
        for name in names:
            value = read(section or {}, name)
            if isinstance(value, dict):
                value = SearchDomain.model_validate(value)
            if isinstance(value, SearchDomain):
                out[name] = value
    return out


def with_recipe(base: SearchSpace, fields: dict[str, SearchDomain]) -> SearchSpace:
    """`base` with the recipe fields searched too; `base` itself when nothing is searched."""
    return RecipeSpace(base, fields) if fields else base


def apply_recipe(spec: Any, genome: Genome) -> Any:
    """The spec a candidate trains with: its genome's recipe values in place of the searched fields."""
    recipe = genome.get("recipe") if isinstance(genome, dict) else None
    if not recipe:
        return spec
    training = {k: v for k, v in recipe.items() if k in TRAINING_FIELDS}
    dataset = {k: v for k, v in recipe.items() if k in DATASET_FIELDS}
    return spec.model_copy(
        update={
            "training": spec.training.model_copy(update=training),
            "dataset": spec.dataset.model_copy(update=dataset),
        }
    )


class RecipeSpace(SearchSpace):
    """An architecture space (`base`) times the searched recipe fields."""

    description = "an architecture space with the training recipe searched too"

    def __init__(self, base: SearchSpace, fields: dict[str, SearchDomain]) -> None:
        super().__init__(base.options, base.task)
        self.base = base
        self.name = base.name  # type: ignore[misc]
        self.dims = [Dimension(n, d) for n, d in fields.items()]

    def __getattr__(self, attr: str) -> Any:  # a base space's own helpers (e.g. nb201's `ops`)
        if attr == "base":
            raise AttributeError(attr)
        return getattr(self.base, attr)

    # --- parts -----------------------------------------------------------------------------------------
    @staticmethod
    def arch(genome: Genome) -> Genome:
        return {k: v for k, v in genome.items() if k != "recipe"}

    def _join(self, arch: Genome, recipe: dict[str, Any]) -> Genome:
        return {**arch, "recipe": {d.name: recipe[d.name] for d in self.dims}}

    # --- operators -------------------------------------------------------------------------------------
    def sample(self, rng: random.Random) -> Genome:
        arch = self.base.sample(rng)
        return self._join(arch, {d.name: d.sample(rng) for d in self.dims})

    def mutate(self, genome: Genome, rng: random.Random) -> Genome:
        recipe = dict(genome["recipe"])
        if rng.random() < RECIPE_MUTATION_SHARE:
            d = rng.choice(self.dims)
            recipe[d.name] = d.mutate(recipe[d.name], rng)
            return self._join(self.arch(genome), recipe)
        return self._join(self.base.mutate(self.arch(genome), rng), recipe)

    def crossover(self, a: Genome, b: Genome, rng: random.Random) -> tuple[Genome, Genome]:
        c, d = self.base.crossover(self.arch(a), self.arch(b), rng)
        take_a = {dim.name: rng.random() < 0.5 for dim in self.dims}
        ra, rb = a["recipe"], b["recipe"]
        first = {n: ra[n] if t else rb[n] for n, t in take_a.items()}
        second = {n: rb[n] if t else ra[n] for n, t in take_a.items()}
        return self._join(c, first), self._join(d, second)

    # --- identity --------------------------------------------------------------------------------------
    def validate(self, genome: Any) -> Genome:
        names = [d.name for d in self.dims]
        if not isinstance(genome, dict) or not isinstance(genome.get("recipe"), dict):
            raise ValueError(f"genome: expected the network's fields and recipe: {{{', '.join(names)}}}")
        recipe = genome["recipe"]
        if set(recipe) != set(names):
            raise ValueError(f"recipe: keys must be exactly: {', '.join(names)}; got {sorted(recipe)}")
        checked = {d.name: d.check(recipe[d.name]) for d in self.dims}
        return self._join(self.base.validate(self.arch(genome)), checked)

    def canonical(self, genome: Genome) -> str:
        recipe = json.dumps(genome["recipe"], sort_keys=True, separators=(",", ":"))
        return f"{self.base.canonical(self.arch(genome))}|recipe:{recipe}"

    # --- encodings -------------------------------------------------------------------------------------
    def decisions(self) -> list[int]:
        return self.base.decisions() + [d.levels() for d in self.dims]

    def decode(self, choices: list[int]) -> Genome:
        n = len(self.base.decisions())
        arch = self.base.decode(list(choices[:n]))
        return self._join(
            arch, {d.name: d.decode(int(c)) for d, c in zip(self.dims, choices[n:], strict=True)}
        )

    def encode(self, genome: Genome) -> list[int]:
        return self.base.encode(self.arch(genome)) + [d.encode(genome["recipe"][d.name]) for d in self.dims]

    def effective_encode(self, genome: Genome) -> list[int]:  # the recipe's fields are never idle
        return self.base.effective_encode(self.arch(genome)) + [
            d.encode(genome["recipe"][d.name]) for d in self.dims
        ]

    def features(self, genome: Genome) -> list[float]:
        out = list(self.base.features(self.arch(genome)))
        for d in self.dims:
            out.extend(d.features(genome["recipe"][d.name]))
        return out

    def genomes(self) -> list[Genome] | None:
        return None  # a range has no list of values

    # --- description and cost --------------------------------------------------------------------------
    def to_graph(self, genome: Genome) -> dict[str, Any]:
        return self.base.to_graph(self.arch(genome))

    def cost(self, genome: Genome) -> dict[str, float]:
        return self.base.cost(self.arch(genome))

    def build(self, genome: Genome):
        return self.base.build(self.arch(genome))

    def describe(self, genome: Genome) -> str:
        recipe = ", ".join(
            f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in genome["recipe"].items()
        )
        return f"{self.base.describe(self.arch(genome))} · {recipe}"

    def decision_features(self, genome: Genome) -> dict[str, DecisionValue]:
        """The recipe fields first (few, and asked for by name), then the network's decisions."""
        return {**genome["recipe"], **self.base.decision_features(self.arch(genome))}

    @property
    def maps_effective_features(self) -> bool:  # type: ignore[override]
        return self.base.maps_effective_features

    def effective_features(self, features: dict[str, DecisionValue]) -> dict[str, DecisionValue]:
        return self.base.effective_features(features)  # the recipe's fields are never idle
