"""`nasboard bench tabular --objective COLUMN:goal`: directions on any column, the default hypervolume
reference, per-run fronts named by the arch column, and the HW-GPT-Bench table's own figures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conditional_table import CHOICE_COLUMNS, write

from backend.cli.main import main
from worker.nas.bench import FrontScorer, bench_objective, bench_space, run_tabular_bench
from worker.nas.evaluation.tabular import TabularTable
from worker.nas.objectives import hypervolume, pareto_front

HWGPT = Path(__file__).resolve().parents[2] / ".." / "shared" / "benchmarks" / "hw-gpt-bench-s"
HWGPT_TABLE = HWGPT / "hw_gpt_bench_s.csv"
HWGPT_CHOICES = ["embed_dim", "n_layer", "bias"]
HWGPT_CHOICES += [f"n_head_{i}" for i in range(1, 13)] + [f"mlp_ratio_{i}" for i in range(1, 13)]


@pytest.fixture
def table_csv(tmp_path: Path) -> Path:
    return write(tmp_path / "cond.csv")


def cli(table_csv: Path, *extra: str) -> list[str]:
    return [
        "bench", "tabular", "--table", str(table_csv), "--arch-column", "id", "--space", "categorical",
        "--choice-columns", ",".join(CHOICE_COLUMNS), "--strategy", "random", "--json", *extra,
    ]  # fmt: skip


def test_objective_cli_minimizes_both_columns_and_names_front_rows_by_arch_column(table_csv, capsys):
    argv = cli(table_csv, "--objective", "loss:minimize", "--objective", "latency:minimize")
    assert main([*argv, "--budget", "1000", "--repeats", "1"]) == 0  # every row: the table's own front
    out = json.loads(capsys.readouterr().out)
    assert out["objectives"] == [
        {"column": "loss", "goal": "minimize"},
        {"column": "latency", "goal": "minimize"},
    ]
    table = TabularTable(table_csv, "id", "loss", "loss", ["latency"])
    points = [(-table.fitness[i], -table.costs["latency"][i]) for i in range(len(table))]
    assert sorted(out["runs"][0]["front"]) == sorted(table.arch[i] for i in pareto_front(points))
    assert out["runs"][0]["hypervolume_ratio"] == pytest.approx(1.0)
    assert out["runs"][0]["best_fitness"] == min(table.fitness)  # the pick has the lowest loss


def test_objective_default_reference_lies_a_tenth_of_the_range_beyond_the_worst_values(table_csv, capsys):
    argv = cli(table_csv, "--objective", "loss:minimize", "--objective", "latency:minimize")
    assert main([*argv, "--budget", "5", "--repeats", "1"]) == 0
    reference = json.loads(capsys.readouterr().out)["hypervolume"]["reference"]
    table = TabularTable(table_csv, "id", "loss", "loss", ["latency"])
    for values, ref in ((table.fitness, reference[0]), (table.costs["latency"], reference[1])):
        assert ref == pytest.approx(max(values) + 0.1 * (max(values) - min(values)))


def test_objective_goals_orient_the_score_and_its_true_front(table_csv):
    table = TabularTable(table_csv, "id", "loss", "loss", ["latency"])
    up = FrontScorer(table, bench_objective(table, ["latency"], ["maximize", "maximize"]), None)
    down = FrontScorer(table, bench_objective(table, ["latency"], ["minimize", "minimize"]), None)
    assert up.point(0) == (table.fitness[0], table.costs["latency"][0])
    assert down.point(0) == (-table.fitness[0], -table.costs["latency"][0])
    up_front = pareto_front([up.point(i) for i in range(len(table))])
    down_front = pareto_front([down.point(i) for i in range(len(table))])
    assert up.ratio(up_front) == pytest.approx(1.0) and down.ratio(down_front) == pytest.approx(1.0)
    assert set(up_front) != set(down_front)
    assert up.ratio(down_front) < 0.99 and down.ratio(up_front) < 0.99


def test_explicit_reference_is_in_column_units_and_bounds_the_scored_box(table_csv):
    table = TabularTable(table_csv, "id", "loss", "loss", ["latency"])
    objective = bench_objective(table, ["latency"], ["minimize", "minimize"])
    scorer = FrontScorer(table, objective, [0.0, 20.0], 0.1)
    row = min(range(len(table)), key=lambda i: table.fitness[i])  # lowest loss
    loss, latency = table.fitness[row], table.costs["latency"][row]
    expected = max(0.0, -loss) * max(0.0, 20.0 - latency) if latency < 20 and loss < 0 else 0.0
    assert scorer.ratio([row]) * scorer.true_hv == pytest.approx(expected)
    assert hypervolume([(-loss, -latency)], (0.0, -20.0)) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--objective", "loss"], "COLUMN:minimize or COLUMN:maximize"),
        (["--objective", "loss:lowest"], "COLUMN:minimize or COLUMN:maximize"),
        (["--objective", "loss:minimize", "--objective", "loss:maximize"], "given twice"),
        (["--objective", "loss:minimize", "--fitness-column", "loss"], "give one or the other"),
        (["--objective", "loss:minimize", "--cost-column", "latency"], "give one or the other"),
        (["--objective", "loss:minimize", "--hv-reference", "1"], "needs two or more objectives"),
        (["--objective", "nope:minimize"], "no column 'nope'"),
        (["--report-column", "loss"], "required without --objective"),
    ],
)
def test_objective_cli_rejects_bad_input_with_exit_code_2(table_csv, capsys, extra, needle):
    assert main([*cli(table_csv, *extra), "--repeats", "1"]) == 2
    assert needle in capsys.readouterr().err


def test_every_strategy_on_a_sparse_conditional_table_asks_only_for_rows_that_exist(table_csv):
    from worker.nas.registry import STRATEGIES

    table = TabularTable(table_csv, "id", "loss", "loss", ["latency"], CHOICE_COLUMNS)
    space = bench_space(table, "categorical")
    for name in STRATEGIES:
        out = run_tabular_bench(
            table, space, name, {}, budget=25, repeats=2, seed=0, cost_columns=["latency"],
            goals=["minimize", "minimize"], hv_margin=0.1,
        )  # fmt: skip
        for run in out["runs"]:
            assert run["failed"] == 0 and run["queries"] == 25, name


@pytest.fixture(scope="module")
def hwgpt_table() -> TabularTable:
    if not HWGPT_TABLE.exists():
        pytest.skip(
            f"HW-GPT-Bench table not found at {HWGPT_TABLE} (needs ../shared/benchmarks/hw-gpt-bench-s/)"
        )
    return TabularTable(HWGPT_TABLE, "arch_id", "perplexity", "perplexity", ["lat_ms_a100"], HWGPT_CHOICES)


def test_hwgpt_default_reference_and_true_front_are_those_of_the_tables_readme(hwgpt_table):
    objective = bench_objective(hwgpt_table, ["lat_ms_a100"], ["minimize", "minimize"])
    scorer = FrontScorer(hwgpt_table, objective, None, 0.1)
    assert scorer.reference == pytest.approx([43.895, 31.954], abs=1e-3)  # README: (1.1, 1.1) scaled
    points = [scorer.point(i) for i in range(len(hwgpt_table))]
    assert len(pareto_front(points)) == 129


def test_hwgpt_random_search_hypervolume_ratio_is_near_the_readme_figure(hwgpt_table):
    space = bench_space(hwgpt_table, "categorical")
    out = run_tabular_bench(
        hwgpt_table, space, "random", {}, budget=100, repeats=30, seed=0, cost_columns=["lat_ms_a100"],
        goals=["minimize", "minimize"], hv_margin=0.1,
    )  # fmt: skip
    assert out["hypervolume"]["ratio"]["mean"] == pytest.approx(0.923, abs=0.01)  # README: 0.923 ± 0.010
