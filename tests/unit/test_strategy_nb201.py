"""Strategies on the real NAS-Bench-201 table (skipped when the table is not beside the repository)."""

from __future__ import annotations

from pathlib import Path

import pytest

from worker.nas.bench import bench_space, run_tabular_bench
from worker.nas.evaluation.tabular import TabularTable

TABLE = Path(__file__).resolve().parents[2] / ".." / "shared" / "benchmarks" / "nb201" / "nb201_cifar10.csv"


@pytest.fixture(scope="module")
def table() -> TabularTable:
    if not TABLE.exists():
        pytest.skip(f"NAS-Bench-201 table not found at {TABLE} (needs ../shared/benchmarks/nb201/)")
    return TabularTable(
        TABLE, "arch_str", "cifar10valid_val_acc_12ep", "cifar10_test_acc_200ep", ["flops_M_cifar10"]
    )


def test_predictor_evolution_finds_the_best_nb201_cell_within_100_queries(table: TabularTable) -> None:
    out = run_tabular_bench(table, bench_space(table, "nb201"), "predictor-evolution", {}, 100, 2, 0, [])
    best = max(table.report)
    assert [run["queries"] for run in out["runs"]] == [100, 100]
    assert [run["best_report"] for run in out["runs"]] == [best, best]


@pytest.mark.parametrize("name", ["nsga2", "predictor-evolution"])
def test_multi_objective_strategy_front_beats_random_on_nb201_flops(table: TabularTable, name: str) -> None:
    space = bench_space(table, "nb201")
    costs, ref = ["flops_M_cifar10"], [80.0, 230.0]
    ours = run_tabular_bench(table, space, name, {}, 100, 3, 0, costs, hv_reference=ref)
    rand = run_tabular_bench(table, space, "random", {}, 100, 3, 0, costs, hv_reference=ref)
    assert ours["hypervolume"]["ratio"]["mean"] > rand["hypervolume"]["ratio"]["mean"]
    assert all(run["front"] for run in ours["runs"])
