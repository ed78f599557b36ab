"""Lookup overhead of the tabular evaluator: 100 repeats x 100 queries answered from the NB201 table.

Prints the time spent in `TabularEvaluator.evaluate` alone (strategy work excluded), and the time of the
same 10,000 queries including the canonical-form dedup check a strategy does per proposal.
A measuring tool: it states no goal and has no `--check` (docs/tabular-benchmark.md gives its figures).

Usage: .venv/bin/python benchmarks/tabular_lookup_speed.py [path/to/nb201_cifar10.csv]
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

from worker.nas.bench import bench_objective
from worker.nas.evaluation.tabular import TabularEvaluator, TabularTable
from worker.nas.spaces.nb201 import NB201Space

DEFAULT = Path(__file__).resolve().parents[1] / ".." / "shared" / "benchmarks" / "nb201" / "nb201_cifar10.csv"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "table", nargs="?", type=Path, default=DEFAULT, help="the NB201 CSV (default: %(default)s)"
    )
    path = ap.parse_args().table
    t0 = time.perf_counter()
    table = TabularTable(
        path, "arch_str", "cifar10valid_val_acc_12ep", "cifar10_test_acc_200ep", ["flops_M_cifar10"]
    )
    space = NB201Space()
    evaluator = TabularEvaluator(table, space, bench_objective(table, ["flops_M_cifar10"]))
    print(f"load + index {len(table)} rows: {time.perf_counter() - t0:.3f} s")
    rng = random.Random(0)
    genomes = [space.sample(rng) for _ in range(100 * 100)]
    t0 = time.perf_counter()
    for g in genomes:
        evaluator.evaluate(g)
    lookup = time.perf_counter() - t0
    t0 = time.perf_counter()
    for g in genomes:
        space.canonical(g)
        evaluator.evaluate(g)
    print(f"100 x 100 evaluate() lookups: {lookup:.3f} s ({lookup / len(genomes) * 1e6:.1f} us each)")
    print(f"same with canonical dedup key: {time.perf_counter() - t0:.3f} s")


if __name__ == "__main__":
    main()
