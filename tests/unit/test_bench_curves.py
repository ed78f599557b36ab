"""The tabular bench's per-repeat curves (worker/nas/bench.py) and their statistics across repeats."""

from __future__ import annotations

import pytest
from bench_support import CHOICES, write_table

from worker.nas.bench import bench_space, curve_stats, expand, run_tabular_bench, value_at
from worker.nas.evaluation.tabular import TabularTable


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory) -> TabularTable:
    path = write_table(tmp_path_factory.mktemp("curves") / "toy.csv")
    return TabularTable(path, "name", "val", "test", cost_columns=["flops"], choice_columns=CHOICES)


def test_report_curve_is_the_report_of_the_best_row_among_the_first_queries(table: TabularTable) -> None:
    out = run_tabular_bench(table, bench_space(table, "categorical"), "random", {}, 15, 3, 7, [])
    for run in out["runs"]:
        curve = expand(run["curves"]["report"])
        assert len(curve) == run["queries"] == 15 and curve[-1] == run["best_report"]
        # report = fitness + 0.5 in this table, so the pick's report is the best fitness so far + 0.5
        fitness = {table.arch[i]: table.fitness[i] for i in range(len(table))}
        assert curve[0] is not None and curve == sorted(curve)
        assert max(curve) == fitness[run["best_arch"]] + 0.5
        assert "hypervolume_ratio" not in run["curves"]


def test_hypervolume_curve_ends_at_the_runs_ratio_and_reaches_one_on_the_whole_table(
    table: TabularTable,
) -> None:
    out = run_tabular_bench(table, bench_space(table, "categorical"), "random", {}, 30, 2, 0, ["flops"])
    for run in out["runs"]:
        curve = expand(run["curves"]["hypervolume_ratio"])
        assert curve[-1] == pytest.approx(run["hypervolume_ratio"]) == pytest.approx(1.0)
        assert all(b >= a for a, b in zip(curve, curve[1:], strict=False)) and curve[0] > 0


def test_curve_stats_take_each_repeat_at_half_the_budget_and_at_its_end() -> None:
    curves = [[[1, 1.0], [3, 2.0], [6, 4.0]], [[1, 0.0], [6, 0.0]], [[2, 3.0], [4, 3.0]]]  # 3rd ends at 4
    stats = curve_stats(curves, budget=6)
    assert stats["half_query"] == 3
    assert [value_at(c, 3) for c in curves] == [2.0, 0.0, 3.0]
    assert stats["half"]["mean"] == pytest.approx(5 / 3) and stats["half"]["n"] == 3
    assert stats["final"]["mean"] == pytest.approx(7 / 3) and stats["final"]["max"] == 4.0
    last = stats["band"][-1]
    assert last["evaluation"] == 6 and last["n"] == 2 and last["mean"] == pytest.approx(2.0)
