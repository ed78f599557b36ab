"""Where a multi-objective strategy's fronts lose hypervolume on NAS-Bench-201, FLOPs level by level.

Runs the strategy as `nasboard bench tabular --cost-column flops_M_cifar10 --hv-reference 80,230` does,
then prints, for every FLOPs level: evaluations spent there per run, the runs that evaluated the level's
best validation cell, the mean validation gap to it, and the mean hypervolume ratio a run would gain if
that cell were added to its front (levels that lose nothing and are always hit are left out).

    .venv/bin/python benchmarks/nb201_front_levels.py [--strategy predictor-evolution] [--seeds 20]
        [--options '{"fitness_every": 0}']

A diagnostic tool: it states no goal and has no `--check` (the hypervolume goal, 100 runs of budget 100,
is checked by `nb201_strategies.py --multi-objective --check`).

The table lives outside the repository (../shared/benchmarks/nb201/nb201_cifar10.csv); without it the
script says so and exits 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

from _nb201_front import COST, TABLE, load_scored_table


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--table", type=Path, default=TABLE)
    ap.add_argument("--strategy", default="predictor-evolution")
    ap.add_argument("--options", default="{}", help="strategy options as JSON")
    ap.add_argument("--seeds", type=int, default=20, help="runs, seeds 0..N-1")
    ap.add_argument("--budget", type=int, default=100)
    args = ap.parse_args()
    table, scorer = load_scored_table(args.table)
    from worker.nas.bench import bench_objective, bench_space, run_once
    from worker.nas.evaluation.tabular import TabularEvaluator
    from worker.nas.objectives import pareto_front

    space, objective = bench_space(table, "nb201"), bench_objective(table, [COST])
    evaluator = TabularEvaluator(table, space, objective)
    level_rows: dict[float, list[int]] = defaultdict(list)
    for row, flops in enumerate(table.costs[COST]):
        level_rows[round(flops, 1)].append(row)
    best_row = {f: max(rows, key=lambda r: table.fitness[r]) for f, rows in level_rows.items()}

    ratios, hits, evals = [], Counter(), Counter()
    gap: dict[float, float] = defaultdict(float)
    loss: dict[float, float] = defaultdict(float)
    start = time.perf_counter()
    for seed in range(args.seeds):
        done, _ = run_once(
            evaluator, space, args.strategy, json.loads(args.options), args.budget, seed, objective
        )
        ok = [(row, res) for row, res in done if res.ok]
        front = [ok[j][0] for j in pareto_front([objective.vector(res.metrics) for _, res in ok])]
        ratio = scorer.ratio(front)
        ratios.append(ratio)
        found: dict[float, float] = {}
        for row, _ in ok:
            level = round(table.costs[COST][row], 1)
            found[level] = max(found.get(level, 0.0), table.fitness[row])
            evals[level] += 1
        for level, row in best_row.items():
            hits[level] += found.get(level, -1.0) >= table.fitness[row]
            gap[level] += table.fitness[row] - found.get(level, 0.0)
            loss[level] += max(0.0, scorer.ratio([*front, row]) - ratio)
    n = args.seeds
    print(
        f"{args.strategy} {args.options}: mean hypervolume ratio {sum(ratios) / n:.4f} over {n} seeds "
        f"({time.perf_counter() - start:.0f} s)"
    )
    print("MFLOPs  evals/run  best cell found  val gap  ratio lost")
    for level in sorted(level_rows):
        if loss[level] / n > 0.0003 or hits[level] < n:
            print(
                f"{level:6.1f}  {evals[level] / n:9.1f}  {hits[level]:6d} / {n:<6d}  "
                f"{gap[level] / n:7.2f}  {loss[level] / n:10.4f}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
