"""A generic space of named categorical choices, optionally restricted to the combinations a table holds.

Genome: `{"choices": {name: value}}`. With `allowed` rows (e.g. every row of a tabular benchmark), every
genome that sampling, mutation, crossover or decoding produces is one of those rows: mutation moves to a
nearest allowed neighbour that differs in one chosen column, and anything else is repaired to the nearest
allowed row (fewest differing columns).

Conditional spaces: the value `""` (an empty table cell) means "not present", e.g. the per-layer columns
above a network's depth. It is an ordinary value for identity, distance and repair (a 10-layer row is
4 + 1 columns away from its 12-layer twin), and is left out of descriptions and decision features.
"""

from __future__ import annotations

import json
import random
from typing import Any

import numpy as np
from pydantic import Field, model_validator

from worker.nas.spaces.base import DecisionValue, SearchSpace, SpaceOptions
from worker.nas.types import Genome

ABSENT = ""  # an empty cell: the decision does not apply to this genome


def _number(value: str) -> float | None:
    try:
        return float(value)
    except ValueError:
        return None


def _feature_kind(values: list[str]) -> tuple[bool, bool]:
    """(gives its number, gives one-hot) for a column with these values; see `CategoricalSpace.features`."""
    present = [v for v in values if v != ABSENT]
    numeric = bool(present) and all(_number(v) is not None for v in present)
    return numeric, ABSENT not in values or not numeric


class CategoricalOptions(SpaceOptions):
    # None only in a spec whose dataset is a table: the space is then built from the table's rows.
    choices: dict[str, list[str]] | None = Field(
        None, min_length=1, description="name -> its allowed values (none: a table's choice columns)"
    )
    allowed: list[dict[str, str]] | None = Field(None, description="the only combinations that exist")

    @model_validator(mode="after")
    def _check(self) -> CategoricalOptions:
        if self.choices is None:
            if self.allowed is not None:
                raise ValueError("allowed: needs choices")
            return self
        for name, values in self.choices.items():
            if not values or len(set(values)) != len(values):
                raise ValueError(f"choices.{name}: need one or more distinct values")
        for i, row in enumerate(self.allowed or []):
            if set(row) != set(self.choices):
                raise ValueError(f"allowed[{i}]: keys must be exactly: {', '.join(self.choices)}")
            for name, value in row.items():
                if value not in self.choices[name]:
                    raise ValueError(f"allowed[{i}].{name}: {value!r} is not one of {self.choices[name]}")
        if self.allowed is not None and not self.allowed:
            raise ValueError("allowed: empty list; omit it to allow every combination")
        return self


class CategoricalSpace(SearchSpace):
    name = "categorical"
    Options = CategoricalOptions
    description = "named categorical choices, optionally restricted to a table's rows"
    options: CategoricalOptions

    def __init__(self, options: CategoricalOptions | None = None, task: Any = None) -> None:
        if options is None or options.choices is None:
            raise ValueError(
                "choices: the categorical space needs its choices, e.g. {'choices': {'op': ['a']}}"
            )
        super().__init__(options, task)
        self.names = list(options.choices)
        self.values = {n: list(v) for n, v in options.choices.items()}
        self.index_of = {n: {v: i for i, v in enumerate(vs)} for n, vs in self.values.items()}
        self.feature_kinds = {n: _feature_kind(vs) for n, vs in self.values.items()}
        self.rows: np.ndarray | None = None
        if options.allowed is not None:
            codes = {tuple(self.index_of[n][row[n]] for n in self.names) for row in options.allowed}
            self.rows = np.array(sorted(codes), dtype=np.int32)
            self.allowed_set = {tuple(int(x) for x in r) for r in self.rows}
            # for each column: the other columns' values -> rows sharing them (one-column neighbours)
            self.neighbours: list[dict[tuple[int, ...], list[int]]] = []
            for j in range(len(self.names)):
                table: dict[tuple[int, ...], list[int]] = {}
                for r, code in enumerate(self.rows.tolist()):
                    table.setdefault(tuple(code[:j] + code[j + 1 :]), []).append(r)
                self.neighbours.append(table)

    # --- codes <-> genomes ---------------------------------------------------------------------------
    def _genome(self, code: tuple[int, ...] | list[int]) -> Genome:
        return {"choices": {n: self.values[n][int(c)] for n, c in zip(self.names, code, strict=True)}}

    def _code(self, genome: Genome) -> tuple[int, ...]:
        return tuple(self.index_of[n][genome["choices"][n]] for n in self.names)

    def _repair(self, code: tuple[int, ...], rng: random.Random | None = None) -> tuple[int, ...]:
        """The nearest allowed row (fewest differing columns); ties go to rng, else the first row."""
        if self.rows is None or code in self.allowed_set:
            return code
        distance = (self.rows != np.asarray(code)).sum(axis=1)
        nearest = np.flatnonzero(distance == distance.min())
        pick = nearest[rng.randrange(len(nearest))] if rng is not None else nearest[0]
        return tuple(int(x) for x in self.rows[pick])

    # --- operators -------------------------------------------------------------------------------------
    def sample(self, rng: random.Random) -> Genome:
        if self.rows is not None:
            return self._genome(self.rows[rng.randrange(len(self.rows))].tolist())
        return self._genome([rng.randrange(len(self.values[n])) for n in self.names])

    def mutate(self, genome: Genome, rng: random.Random) -> Genome:
        code = list(self._code(genome))
        columns = [j for j, n in enumerate(self.names) if len(self.values[n]) > 1]
        if not columns:
            return self._genome(code)  # a one-point space: nothing to change
        j = rng.choice(columns)
        if self.rows is None:
            code[j] = rng.choice([v for v in range(len(self.values[self.names[j]])) if v != code[j]])
            return self._genome(code)
        same_rest = self.neighbours[j].get(tuple(code[:j] + code[j + 1 :]), [])
        options = [r for r in same_rest if self.rows[r][j] != code[j]]
        if not options:  # no row differs in column j alone: the nearest rows that differ in column j
            differ = np.flatnonzero(self.rows[:, j] != code[j])
            if len(differ) == 0:
                return self._genome(self._repair(tuple(code), rng))
            distance = (self.rows[differ] != np.asarray(code)).sum(axis=1)
            options = differ[distance == distance.min()].tolist()
        return self._genome(self.rows[rng.choice(options)].tolist())

    def crossover(self, a: Genome, b: Genome, rng: random.Random) -> tuple[Genome, Genome]:
        ca, cb = self._code(a), self._code(b)
        take_a = [rng.random() < 0.5 for _ in self.names]
        c1 = tuple(x if t else y for x, y, t in zip(ca, cb, take_a, strict=True))
        c2 = tuple(y if t else x for x, y, t in zip(ca, cb, take_a, strict=True))
        return self._genome(self._repair(c1, rng)), self._genome(self._repair(c2, rng))

    # --- identity --------------------------------------------------------------------------------------
    def validate(self, genome: Any) -> Genome:
        if (
            not isinstance(genome, dict)
            or set(genome) != {"choices"}
            or not isinstance(genome["choices"], dict)
        ):
            raise ValueError("genome: expected {'choices': {name: value}}")
        got = genome["choices"]
        if set(got) != set(self.names):
            raise ValueError(f"choices: keys must be exactly: {', '.join(self.names)}; got {sorted(got)}")
        for n in self.names:
            if got[n] not in self.index_of[n]:
                raise ValueError(
                    f"choices.{n}: {got[n]!r} is not allowed; allowed: {', '.join(self.values[n])}"
                )
        code = self._code(genome)
        if self.rows is not None and code not in self.allowed_set:
            raise ValueError(f"choices: {got} is not one of the allowed combinations")
        return self._genome(code)

    def canonical(self, genome: Genome) -> str:
        return json.dumps(sorted(genome["choices"].items()), separators=(",", ":"))

    # --- encodings -------------------------------------------------------------------------------------
    def decisions(self) -> list[int]:
        return [len(self.values[n]) for n in self.names]

    def decode(self, choices: list[int]) -> Genome:
        sizes = self.decisions()
        if len(choices) != len(sizes) or any(not 0 <= c < s for c, s in zip(choices, sizes, strict=True)):
            raise ValueError(f"choices: need one index per decision within {sizes}, got {choices}")
        return self._genome(self._repair(tuple(int(c) for c in choices)))

    def encode(self, genome: Genome) -> list[int]:
        return list(self._code(genome))

    # --- surrogate support -----------------------------------------------------------------------------
    def genomes(self) -> list[Genome] | None:
        return [self._genome(code) for code in self.rows.tolist()] if self.rows is not None else None

    def features(self, genome: Genome) -> list[float]:
        """Per column: its number when every present value is numeric (absent: 0), and one-hot of its
        values when the column is never absent or not numeric.

        Unconditional decisions (width, depth) are few and often act non-linearly, so they get both; a
        conditional per-layer column gets its number only: one-hot of every layer's values would give a
        regression more weights than a 100-evaluation search can pin down.
        """
        out: list[float] = []
        for name in self.names:
            value = genome["choices"][name]
            numeric, onehot = self.feature_kinds[name]
            if numeric:
                out.append(0.0 if value == ABSENT else float(value))
            if onehot:
                out.extend(1.0 if value == v else 0.0 for v in self.values[name])
        return out

    # --- description and cost --------------------------------------------------------------------------
    def to_graph(self, genome: Genome) -> dict[str, Any]:
        present = [n for n in self.names if genome["choices"][n] != ABSENT]
        labels = ["input"] + [f"{n}={genome['choices'][n]}" for n in present] + ["output"]
        return {
            "kind": "chain",
            "nodes": [{"id": i, "label": label} for i, label in enumerate(labels)],
            "edges": [{"source": i, "target": i + 1, "label": ""} for i in range(len(labels) - 1)],
        }

    def cost(self, genome: Genome) -> dict[str, float]:
        """No model behind the choices: costs, when known, come from the table's cost columns."""
        return {}

    def build(self, genome: Genome):
        raise NotImplementedError(
            "space 'categorical' has no network builder; it is for tabular benchmarks (bench tabular)"
        )

    def describe(self, genome: Genome) -> str:
        return ", ".join(f"{n}={v}" for n, v in genome["choices"].items() if v != ABSENT)

    # --- analysis --------------------------------------------------------------------------------------
    def decision_features(self, genome: Genome) -> dict[str, DecisionValue]:
        """The named choices themselves; absent ones are left out."""
        return {n: genome["choices"][n] for n in self.names if genome["choices"][n] != ABSENT}
