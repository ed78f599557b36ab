"""Tabular benchmark harness: repeated searches of one strategy on a table, summarised as one JSON object.

Each repeat i runs a fresh strategy (seed = seed + i) through ask(1) / evaluate / tell until it has spent
`budget` distinct evaluations (distinct canonical networks) or the space is exhausted, then reports the
report column of the architecture it picked. With cost columns the search is multi-objective and each run
also yields its Pareto front and that front's hypervolume relative to the table's true front.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

from worker.nas.evaluation.tabular import NotInTable, TabularEvaluator, TabularTable
from worker.nas.objectives import Objective, Term, hypervolume, pareto_front
from worker.nas.registry import strategy_class
from worker.nas.strategies.base import SpaceExhausted
from worker.nas.types import Result

# A strategy that keeps proposing already-evaluated networks is broken; stop it instead of spinning.
MAX_ASKS_PER_QUERY = 50


def summary(values: Sequence[float]) -> dict[str, float | None]:
    if not values:
        return {"mean": None, "std": None, "median": None}
    return {
        "mean": statistics.fmean(values),
        "std": statistics.pstdev(values),  # population std over the repeats
        "median": statistics.median(values),
    }


def bench_objective(table: TabularTable, cost_columns: Sequence[str]) -> Objective:
    """Maximize the fitness column; minimize each cost column in the objective vector.

    Costs get weight 0 in the scalar fitness, so single-objective strategies still search on the fitness
    column alone while multi-objective ones rank on the full vector.
    """
    terms = [Term(table.fitness_column, "maximize", 1.0)]
    terms += [Term(c, "minimize", 0.0) for c in cost_columns]
    return Objective(terms)


class FrontScorer:
    """Hypervolume of (report, costs) points relative to the table's true front over the same axes."""

    def __init__(self, table: TabularTable, cost_columns: Sequence[str], reference: Sequence[float] | None):
        self.table, self.cost_columns = table, tuple(cost_columns)
        points = [self.point(i) for i in range(len(table))]
        finite = [p for p in points if all(math.isfinite(v) for v in p)]  # rows with a missing figure: out
        if reference is None:  # the worst value of each axis in the table
            reference = [min(p[0] for p in finite)]
            reference += [max(-p[j] for p in finite) for j in range(1, len(finite[0]))]
        if len(reference) != 1 + len(self.cost_columns):
            raise ValueError(
                f"hv-reference: need {1 + len(self.cost_columns)} values (report, then each cost column)"
            )
        self.reference = [float(r) for r in reference]
        self.ref_point = (self.reference[0], *(-r for r in self.reference[1:]))
        front = pareto_front(finite)
        self.true_hv = hypervolume([finite[i] for i in front], self.ref_point)

    def point(self, row: int) -> tuple[float, ...]:
        """Maximized coordinates: the report value, then each cost negated."""
        return (self.table.report[row], *(-self.table.costs[c][row] for c in self.cost_columns))

    def ratio(self, rows: Sequence[int]) -> float:
        points = [p for p in (self.point(r) for r in rows) if all(math.isfinite(v) for v in p)]
        hv = hypervolume(points, self.ref_point)
        return hv / self.true_hv if self.true_hv > 0 else 0.0


def bench_space(table: TabularTable, kind: str) -> Any:
    """The space a table is searched in: nb201 (arch column holds arch strings) or categorical."""
    if kind == "nb201":
        from worker.nas.spaces.nb201 import NB201Space, parse_arch

        if table.choice_columns:
            raise ValueError("choice-columns: only used with --space categorical")
        for line, arch in enumerate(table.arch, start=2):
            try:
                parse_arch(arch)
            except ValueError as err:
                raise ValueError(f"arch-column {table.arch_column!r}, table line {line}: {err}") from None
        return NB201Space()
    if kind == "categorical":
        from worker.nas.spaces.categorical import CategoricalSpace

        if not table.choice_columns:
            raise ValueError("choice-columns: --space categorical needs the columns that define a row")
        values = {c: list(dict.fromkeys(row[c] for row in table.choices)) for c in table.choice_columns}
        return CategoricalSpace(CategoricalSpace.Options(choices=values, allowed=table.choices))
    raise ValueError(f"space: unknown {kind!r}; allowed: nb201, categorical")


def run_once(
    evaluator: TabularEvaluator,
    space: Any,
    strategy_name: str,
    strategy_options: dict[str, Any],
    budget: int,
    seed: int,
    objective: Objective,
) -> tuple[list[tuple[int, Result]], int]:
    """One search; returns the (row, result) of every distinct evaluation and the number of asks."""
    cls = strategy_class(strategy_name)
    options = cls.Options.model_validate(strategy_options)
    strategy = cls(space, options, seed=seed, objective=objective, free_metrics=evaluator.free_metrics)
    done: dict[str, tuple[int, Result]] = {}
    asks = 0
    while len(done) < budget:
        if asks >= MAX_ASKS_PER_QUERY * budget:
            raise RuntimeError(f"strategy {strategy_name!r} keeps proposing networks it already evaluated")
        try:
            genome = strategy.ask(1)[0]
        except SpaceExhausted:
            break
        asks += 1
        key = space.canonical(genome)
        if key in done:  # repeats cost nothing: hand back the known result
            strategy.tell(genome, done[key][1])
            continue
        try:
            row = evaluator.row_of(genome)
            result = evaluator.evaluate(genome)
        except NotInTable as err:  # recorded as a failed candidate; the search goes on
            row, result = -1, Result(status="failed", error=str(err))
        done[key] = (row, result)
        strategy.tell(genome, result)
    return list(done.values()), asks


def run_tabular_bench(
    table: TabularTable,
    space: Any,
    strategy_name: str,
    strategy_options: dict[str, Any] | None,
    budget: int,
    repeats: int,
    seed: int,
    cost_columns: Sequence[str],
    progress: Callable[[int, int], None] | None = None,
    hv_reference: Sequence[float] | None = None,
) -> dict[str, Any]:
    if budget < 1 or repeats < 1:
        raise ValueError("budget and repeats must be at least 1")
    unknown = [c for c in cost_columns if c not in table.cost_columns]
    if unknown:
        raise ValueError(
            f"cost-column: {unknown} not loaded with the table; loaded: {list(table.cost_columns)}"
        )
    start = time.perf_counter()
    objective = bench_objective(table, cost_columns)
    evaluator = TabularEvaluator(table, space, objective)
    scorer = FrontScorer(table, cost_columns, hv_reference) if cost_columns else None
    runs = []
    for i in range(repeats):
        t0 = time.perf_counter()
        evaluated, asks = run_once(
            evaluator, space, strategy_name, strategy_options or {}, budget, seed + i, objective
        )
        ok = [(row, res) for row, res in evaluated if res.ok]
        run: dict[str, Any] = {
            "seed": seed + i,
            "queries": len(evaluated),
            "asks": asks,
            "failed": len(evaluated) - len(ok),
        }
        if ok:
            row, res = max(ok, key=lambda rr: rr[1].fitness)
            run.update(
                best_arch=table.arch[row],
                best_fitness=table.fitness[row],
                # a row without a report figure is still the pick; it just has nothing to report
                best_report=table.report[row] if math.isfinite(table.report[row]) else None,
            )
        else:
            run.update(best_arch=None, best_fitness=None, best_report=None)
        if scorer is not None:
            vectors = [objective.vector(res.metrics) for _, res in ok]
            front_rows = [ok[j][0] for j in pareto_front(vectors)]
            run["front"] = [table.arch[r] for r in front_rows]
            run["hypervolume_ratio"] = scorer.ratio(front_rows)
        run["seconds"] = time.perf_counter() - t0
        runs.append(run)
        if progress is not None:
            progress(i + 1, repeats)
    out: dict[str, Any] = {
        "strategy": strategy_name,
        "strategy_options": strategy_options or {},
        "budget": budget,
        "repeats": repeats,
        "seed": seed,
        "table": str(table.path),
        "fitness_column": table.fitness_column,
        "report_column": table.report_column,
        "cost_columns": list(cost_columns),
        "report": summary([r["best_report"] for r in runs if r["best_report"] is not None]),
        "best_fitness": summary([r["best_fitness"] for r in runs if r["best_fitness"] is not None]),
    }
    if scorer is not None:
        out["hypervolume"] = {
            "reference": scorer.reference,
            "true_front": scorer.true_hv,
            "ratio": summary([r["hypervolume_ratio"] for r in runs]),
        }
    out["runs"] = runs
    out["seconds"] = time.perf_counter() - start
    return out
