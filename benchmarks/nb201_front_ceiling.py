"""How good must a multi-objective search's picks be for a given hypervolume ratio on NAS-Bench-201?

The harness picks each run's front on the search signal (12-epoch validation accuracy vs FLOPs) and
scores it on (200-epoch test accuracy, FLOPs) against the table's true front. This script scores fronts
built without any search, to show what the goal asks of one:

- the ceiling: every FLOPs level's best validation cell (what evaluating all 15,625 cells would pick);
- each level represented by a cell drawn uniformly from that level's top-k validation cells (distinct
  validation scores, i.e. isomorphs counted once), for k = 2, 3, 5, 10, averaged over many draws.

    .venv/bin/python benchmarks/nb201_front_ceiling.py [--draws 200] [--hv-reference 80,230]

A measuring tool: it states no goal of its own and has no `--check` (the hypervolume goal is checked by
`nb201_strategies.py --multi-objective --check`).

The table lives outside the repository (../shared/benchmarks/nb201/nb201_cifar10.csv); without it the
script says so and exits 2.
"""

from __future__ import annotations

import argparse
import random
import sys
from collections import defaultdict
from pathlib import Path

from _nb201_front import COST, TABLE, load_scored_table


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--table", type=Path, default=TABLE)
    ap.add_argument("--draws", type=int, default=200)
    ap.add_argument("--hv-reference", default="80,230")
    args = ap.parse_args()
    table, scorer = load_scored_table(args.table, args.hv_reference)
    from worker.nas.objectives import pareto_front

    levels: dict[float, dict[float, int]] = defaultdict(dict)  # FLOPs level -> val score -> a row
    for row, flops in enumerate(table.costs[COST]):
        levels[round(flops, 1)].setdefault(round(table.fitness[row], 3), row)
    ranked = {f: [rows[v] for v in sorted(rows, reverse=True)] for f, rows in levels.items()}

    def draw(k: int, rng: random.Random) -> list[int]:  # one row per level, among its top k
        return [r[min(len(r) - 1, rng.randrange(k))] for r in ranked.values()]

    def ratio(rows: list[int]) -> float:  # the harness's rule: front on (fitness, costs), scored on report
        front = pareto_front([(table.fitness[r], -table.costs[COST][r]) for r in rows])
        return scorer.ratio([rows[j] for j in front])

    print(f"{len(ranked)} FLOPs levels; reference {scorer.reference}")
    print(f"ceiling (every level's best validation cell): {ratio([r[0] for r in ranked.values()]):.4f}")
    rng = random.Random(0)
    for k in (2, 3, 5, 10):
        draws = [ratio(draw(k, rng)) for _ in range(args.draws)]
        print(f"each level one of its top-{k} validation cells: mean {sum(draws) / len(draws):.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
