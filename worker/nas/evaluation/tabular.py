"""Tabular benchmark evaluation: answer `evaluate(genome)` from a table of pre-computed results.

A table is a CSV with one row per architecture: an arch column (the row's name, e.g. NAS-Bench-201's
`arch_str`), a fitness column (the search signal), a report column (what a search reports for the cell it
picked, never shown to the strategy), optional cost columns (FLOPs, params, latency: known without
training) and optional choice columns (for the categorical space). Lookups are dict hits on a row key.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from worker.nas.types import Genome, Metrics, Result

FITNESS_KEY = "fitness_value"


class NotInTable(ValueError):
    """The genome names no row of the table."""


def _number(text: str, column: str, line: int) -> float:
    if text is None or text.strip() == "":
        return math.nan  # a missing figure: the row fails when evaluated, the search goes on
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"table line {line}, column {column!r}: {text!r} is not a number") from None


class TabularTable:
    """The columns of a benchmark table that a search needs, loaded once."""

    def __init__(
        self,
        path: str | Path,
        arch_column: str,
        fitness_column: str,
        report_column: str,
        cost_columns: Sequence[str] = (),
        choice_columns: Sequence[str] = (),
    ) -> None:
        self.path = Path(path)
        self.arch_column, self.fitness_column, self.report_column = arch_column, fitness_column, report_column
        self.cost_columns = tuple(cost_columns)
        self.choice_columns = tuple(choice_columns)
        with self.path.open(newline="") as f:
            reader = csv.DictReader(f)
            header = list(reader.fieldnames or [])
            self._check_columns(header)
            self.arch: list[str] = []
            self.fitness: list[float] = []
            self.report: list[float] = []
            self.costs: dict[str, list[float]] = {c: [] for c in self.cost_columns}
            self.choices: list[dict[str, str]] = []
            for line, row in enumerate(reader, start=2):
                self.arch.append(row[arch_column])
                self.fitness.append(_number(row[fitness_column], fitness_column, line))
                self.report.append(_number(row[report_column], report_column, line))
                for c in self.cost_columns:
                    self.costs[c].append(_number(row[c], c, line))
                if self.choice_columns:
                    self.choices.append({c: row[c] for c in self.choice_columns})
        if not self.arch:
            raise ValueError(f"table {self.path}: no rows")

    def _check_columns(self, header: list[str]) -> None:
        wanted = {
            "arch-column": [self.arch_column],
            "fitness-column": [self.fitness_column],
            "report-column": [self.report_column],
            "cost-column": list(self.cost_columns),
            "choice-columns": list(self.choice_columns),
        }
        for option, columns in wanted.items():
            for col in columns:
                if col not in header:
                    raise ValueError(
                        f"{option}: no column {col!r} in {self.path.name}; allowed: {', '.join(header)}"
                    )

    def __len__(self) -> int:
        return len(self.arch)

    def row_costs(self, row: int) -> dict[str, float]:
        return {c: self.costs[c][row] for c in self.cost_columns}


class TabularEvaluator:
    """Looks genomes up in a table.

    Rows are keyed by their own genome: `{"arch": <arch column>}` (e.g. NAS-Bench-201, looked up by the
    exact arch string, so each isomorph answers with its own row) or, with choice columns,
    `{"choices": {...}}` keyed by the space's canonical form.
    """

    def __init__(self, table: TabularTable, space: Any, objective: Any = None) -> None:
        self.table, self.space, self.objective = table, space, objective
        self.by_choices = bool(table.choice_columns)
        self.index: dict[str, int] = {}
        for i in range(len(table)):
            self.index.setdefault(self.key(self.row_genome(i)), i)  # duplicates: the first row answers

    def row_genome(self, row: int) -> Genome:
        if self.by_choices:
            return {"choices": dict(self.table.choices[row])}
        return {"arch": self.table.arch[row]}

    def key(self, genome: Genome) -> str:
        if self.by_choices:
            return self.space.canonical(genome)
        return genome["arch"]

    def row_of(self, genome: Genome) -> int:
        try:
            row = self.index.get(self.key(genome))
            if row is None and not self.by_choices:  # maybe a non-normal spelling of a row's arch
                row = self.index.get(self.space.validate(genome)["arch"])
        except (KeyError, TypeError) as err:
            raise NotInTable(f"genome {genome!r} is malformed for this table: {err}") from None
        if row is None:
            raise NotInTable(f"genome {genome} is not a row of {self.table.path.name}")
        return row

    def free_metrics(self, genome: Genome) -> dict[str, float]:
        """Cost columns of a genome: known without training, so a strategy may ask for them freely."""
        return self.table.row_costs(self.row_of(genome))

    def metrics_of(self, genome: Genome) -> Metrics:
        return self.metrics(self.row_of(genome))

    def metrics(self, row: int) -> Metrics:
        value = self.table.fitness[row]
        return {FITNESS_KEY: value, self.table.fitness_column: value, **self.table.row_costs(row)}

    def evaluate(self, genome: Genome, report: Callable[[int, Metrics], None] | None = None) -> Result:
        """The row's figures as a Result; raises NotInTable for a genome the table does not hold."""
        metrics = self.metrics_of(genome)
        if not all(math.isfinite(v) for v in metrics.values()):
            missing = [k for k, v in metrics.items() if not math.isfinite(v)]
            return Result(status="failed", metrics=metrics, error=f"no value in column(s) {missing}")
        if report is not None:
            report(1, metrics)
        fitness = self.objective.fitness(metrics) if self.objective is not None else metrics[FITNESS_KEY]
        if fitness is None:
            return Result(status="done", fitness=None, metrics=metrics, error="infeasible")
        return Result(status="done", fitness=fitness, metrics=metrics)
