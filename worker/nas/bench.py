"""Tabular benchmark harness: repeated searches of one strategy on a table, summarised as one JSON object.

Each repeat i runs a fresh strategy (seed = seed + i) through ask(1) / evaluate / tell until it has spent
`budget` distinct evaluations (distinct canonical networks) or the space is exhausted, then reports the
report column of the architecture it picked. With cost columns the search is multi-objective and each run
also yields its Pareto front and that front's hypervolume relative to the table's true front.

Each run also keeps its curves against queries (distinct evaluations) as step points `[query, value]`:
the report value of the pick so far, and with cost columns the hypervolume ratio of the front so far.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

from worker.nas.convergence import steps
from worker.nas.evaluation.tabular import NotInTable, TabularEvaluator, TabularTable
from worker.nas.objectives import Goal, Objective, Term, hypervolume, pareto_front
from worker.nas.registry import strategy_class
from worker.nas.strategies.base import SpaceExhausted
from worker.nas.types import Result

# A strategy that keeps proposing already-evaluated networks is broken; stop it instead of spinning.
MAX_ASKS_PER_QUERY = 50
# Default hypervolume reference with `--objective`: each axis's worst table value plus this share of its
# range, i.e. 1.1 on objectives scaled to [0, 1] by the table's min/max (HW-GPT-Bench's convention).
OBJECTIVE_REFERENCE_MARGIN = 0.1


def summary(values: Sequence[float]) -> dict[str, float | None]:
    if not values:
        return {"mean": None, "std": None, "median": None}
    return {
        "mean": statistics.fmean(values),
        "std": statistics.pstdev(values),  # population std over the repeats
        "median": statistics.median(values),
    }


def bench_objective(
    table: TabularTable, cost_columns: Sequence[str], goals: Sequence[Goal] | None = None
) -> Objective:
    """The fitness column first (weight 1), then each cost column (weight 0), with their `goals`.

    Default goals: maximize the fitness column, minimize each cost. Costs get weight 0 in the scalar
    fitness, so single-objective strategies still search on the fitness column alone while
    multi-objective ones rank on the full vector.
    """
    goals = list(goals) if goals is not None else ["maximize"] + ["minimize"] * len(cost_columns)
    if len(goals) != 1 + len(cost_columns):
        raise ValueError(f"objectives: need {1 + len(cost_columns)} goals, got {len(goals)}")
    terms = [Term(table.fitness_column, goals[0], 1.0)]
    terms += [Term(c, g, 0.0) for c, g in zip(cost_columns, goals[1:], strict=True)]
    return Objective(terms)


class FrontScorer:
    """Hypervolume of (report, costs) points relative to the table's true front over the same axes.

    The first axis is the report column with the fitness column's goal; the others are the cost columns
    with theirs. Points are oriented (bigger is better) by the objective's own terms.
    """

    def __init__(
        self,
        table: TabularTable,
        objective: Objective,
        reference: Sequence[float] | None,
        margin: float = 0.0,
    ):
        first, *costs = objective.terms
        self.terms = (Term(table.report_column, first.goal), *costs)
        self.columns = [table.report, *(table.costs[t.metric] for t in costs)]
        points = [self.point(i) for i in range(len(table))]
        finite = [p for p in points if all(math.isfinite(v) for v in p)]  # rows with a missing figure: out
        if reference is None:  # each axis's worst table value, `margin` of its range further out
            worst = [min(p[j] for p in finite) for j in range(len(self.terms))]
            span = [max(p[j] for p in finite) - worst[j] for j in range(len(self.terms))]
            ref_point = [w - margin * s for w, s in zip(worst, span, strict=True)]
            reference = [t.oriented(r) for t, r in zip(self.terms, ref_point, strict=True)]  # back to units
        if len(reference) != len(self.terms):
            raise ValueError(f"hv-reference: need {len(self.terms)} values (report, then each cost column)")
        self.reference = [float(r) for r in reference]
        self.ref_point = tuple(t.oriented(r) for t, r in zip(self.terms, self.reference, strict=True))
        front = pareto_front(finite)
        self.true_hv = hypervolume([finite[i] for i in front], self.ref_point)

    def point(self, row: int) -> tuple[float, ...]:
        """Oriented coordinates (bigger is better): the report value, then each cost."""
        return tuple(t.oriented(col[row]) for t, col in zip(self.terms, self.columns, strict=True))

    def ratio(self, rows: Sequence[int]) -> float:
        points = [p for p in (self.point(r) for r in rows) if all(math.isfinite(v) for v in p)]
        hv = hypervolume(points, self.ref_point)
        return hv / self.true_hv if self.true_hv > 0 else 0.0


def pick_curves(
    table: TabularTable,
    objective: Objective,
    scorer: FrontScorer | None,
    evaluated: Sequence[tuple[int, Result]],
) -> dict[str, list[list[float | None]]]:
    """Step curves over the queries in order: the report value of the pick so far (the first row with
    the highest fitness, as the run's own pick; None until one succeeded or where the row has no report
    figure) and, with a scorer, the hypervolume ratio of the front so far. Their last values are the
    run's `best_report` and `hypervolume_ratio`."""
    report: list[float | None] = []
    ratio: list[float | None] = []
    pick, best = -1, -math.inf
    front: list[tuple[tuple[float, ...], int]] = []  # (oriented vector, row), as pareto_front keeps it
    current = 0.0
    for row, res in evaluated:
        if res.ok:
            if res.fitness > best:  # strictly: ties keep the earlier pick, like max() in the run
                pick, best = row, res.fitness
            if scorer is not None:
                v = objective.vector(res.metrics)
                if not any(_dominates(f, v) for f, _ in front):
                    front = [(f, r) for f, r in front if not _dominates(v, f)] + [(v, row)]
                    current = scorer.ratio([r for _, r in front])
        value = table.report[pick] if pick >= 0 else math.nan
        report.append(value if math.isfinite(value) else None)
        ratio.append(current)
    out = {"report": [list(p) for p in steps(report)]}
    if scorer is not None:
        out["hypervolume_ratio"] = [list(p) for p in steps(ratio)]
    return out


def _dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    return all(x >= y for x, y in zip(a, b, strict=True)) and any(x > y for x, y in zip(a, b, strict=True))


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
    goals: Sequence[Goal] | None = None,
    hv_margin: float = 0.0,
) -> dict[str, Any]:
    """`goals`: the fitness column's, then each cost column's (default maximize, then minimize);
    `hv_margin`: how far beyond the worst table values the default hypervolume reference lies."""
    if budget < 1 or repeats < 1:
        raise ValueError("budget and repeats must be at least 1")
    unknown = [c for c in cost_columns if c not in table.cost_columns]
    if unknown:
        raise ValueError(
            f"cost-column: {unknown} not loaded with the table; loaded: {list(table.cost_columns)}"
        )
    start = time.perf_counter()
    objective = bench_objective(table, cost_columns, goals)
    evaluator = TabularEvaluator(table, space, objective)
    scorer = FrontScorer(table, objective, hv_reference, hv_margin) if cost_columns else None
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
        run["curves"] = pick_curves(table, objective, scorer, evaluated)
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
        "objectives": [{"column": t.metric, "goal": t.goal} for t in objective.terms],
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


def value_at(curve: Sequence[Sequence[Any]], query: int) -> float | None:
    """A step curve's value at `query`: that of its last point at or before it (None before the first)."""
    value = None
    for q, v in curve:
        if q > query:
            break
        value = v
    return value


def expand(curve: Sequence[Sequence[Any]]) -> list[float | None]:
    """A step curve as one value per query, 1 to its last point's."""
    out: list[float | None] = []
    for (q, v), nxt in zip(curve, [*curve[1:], None], strict=True):
        out += [v] * ((nxt[0] if nxt is not None else q + 1) - q)
    return out


def spread(values: Sequence[float | None]) -> dict[str, float] | None:
    """n, mean, sample std (n - 1; 0 for one), min and max of the values that are not None."""
    vals = [float(v) for v in values if v is not None]
    if not vals:
        return None
    return {
        "n": len(vals),
        "mean": statistics.fmean(vals),
        "std": statistics.stdev(vals) if len(vals) > 1 else 0.0,
        "min": min(vals),
        "max": max(vals),
    }


def curve_stats(curves: Sequence[Sequence[Sequence[Any]]], budget: int) -> dict[str, Any]:
    """Across repeats' step curves: the band (`convergence.band`) and the spread at budget/2 and at the
    end of each curve (a run that exhausted the space ends early, with its last value)."""
    from worker.nas.convergence import band

    dense = [expand(c) for c in curves]
    half = max(1, budget // 2)
    return {
        "band": [vars(p) for p in band(dense)],
        "final": spread([c[-1][1] if c else None for c in curves]),
        "half": spread([value_at(c, half) if c and c[-1][0] >= half else None for c in curves]),
        "half_query": half,
    }
