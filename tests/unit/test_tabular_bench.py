from __future__ import annotations

import csv
import itertools
import json
import random
from pathlib import Path

import pytest

from backend.cli.main import main
from worker.nas.bench import bench_space, run_tabular_bench
from worker.nas.evaluation.tabular import NotInTable, TabularEvaluator, TabularTable
from worker.nas.objectives import hypervolume, pareto_front
from worker.nas.spaces.nb201 import NB201Space

TABLE = Path(__file__).resolve().parents[2] / ".." / "shared" / "benchmarks" / "nb201" / "nb201_cifar10.csv"
NB201_COLUMNS = ("arch_str", "cifar10valid_val_acc_12ep", "cifar10_test_acc_200ep")


@pytest.fixture
def synthetic_csv(tmp_path: Path) -> Path:
    """A 3x4x3 categorical benchmark with 30 of 36 rows: fitness and report follow a known formula."""
    path = tmp_path / "bench.csv"
    rng = random.Random(0)
    combos = list(itertools.product(["a", "b", "c"], ["1", "2", "3", "4"], ["x", "y", "z"]))
    rng.shuffle(combos)
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["name", "op", "width", "act", "val", "test", "flops"])
        for op, width, act in combos[:30]:
            score = "abc".index(op) + int(width) + "xyz".index(act)
            w.writerow([f"{op}-{width}-{act}", op, width, act, score, score + 0.5, int(width) * 10])
    return path


@pytest.fixture(scope="module")
def nb201_table() -> TabularTable:
    if not TABLE.exists():
        pytest.skip(f"NAS-Bench-201 table not found at {TABLE} (needs ../shared/benchmarks/nb201/)")
    return TabularTable(TABLE, *NB201_COLUMNS, cost_columns=["flops_M_cifar10"])


def synthetic_table(path: Path, costs: tuple[str, ...] = ()) -> TabularTable:
    return TabularTable(
        path, "name", "val", "test", cost_columns=costs, choice_columns=["op", "width", "act"]
    )


def test_tabular_bench_on_synthetic_csv_spends_exactly_the_budget_on_distinct_rows(synthetic_csv):
    table = synthetic_table(synthetic_csv)
    space = bench_space(table, "categorical")
    out = run_tabular_bench(table, space, "random", {}, budget=12, repeats=5, seed=3, cost_columns=[])
    assert [r["seed"] for r in out["runs"]] == [3, 4, 5, 6, 7]
    for run in out["runs"]:
        assert run["queries"] == 12 and run["failed"] == 0
        name = run["best_arch"]
        row = table.arch.index(name)
        assert run["best_fitness"] == table.fitness[row] and run["best_report"] == run["best_fitness"] + 0.5
    reports = [r["best_report"] for r in out["runs"]]
    assert out["report"]["mean"] == pytest.approx(sum(reports) / len(reports))
    assert "front" not in out["runs"][0]


def test_tabular_bench_stops_when_the_table_is_used_up(synthetic_csv):
    table = synthetic_table(synthetic_csv)
    out = run_tabular_bench(table, bench_space(table, "categorical"), "random", {}, 100, 1, 0, [])
    best = max(range(len(table)), key=lambda i: table.fitness[i])
    assert out["runs"][0]["queries"] == 30  # every row once, then SpaceExhausted
    assert out["runs"][0]["best_arch"] == table.arch[best]


def test_tabular_bench_multi_objective_front_is_non_dominated_and_scored(synthetic_csv):
    table = synthetic_table(synthetic_csv, costs=("flops",))
    out = run_tabular_bench(table, bench_space(table, "categorical"), "random", {}, 30, 1, 0, ["flops"])
    # all 30 rows evaluated: the picked front is the table's own front, so the ratio is exactly 1
    run = out["runs"][0]
    points = [(table.fitness[i], -table.costs["flops"][i]) for i in range(len(table))]
    assert sorted(run["front"]) == sorted(table.arch[i] for i in pareto_front(points))
    assert run["hypervolume_ratio"] == pytest.approx(1.0)
    ref = out["hypervolume"]["reference"]
    assert ref == [min(table.report), max(table.costs["flops"])]
    true_points = [(table.report[i], -table.costs["flops"][i]) for i in range(len(table))]
    assert out["hypervolume"]["true_front"] == pytest.approx(hypervolume(true_points, (ref[0], -ref[1])))


def test_tabular_evaluator_answers_rows_and_rejects_unknown_genomes(synthetic_csv):
    table = synthetic_table(synthetic_csv, costs=("flops",))
    space = bench_space(table, "categorical")
    ev = TabularEvaluator(table, space)
    genome = {"choices": dict(table.choices[7])}
    result = ev.evaluate(genome)
    assert result.ok and result.fitness == table.fitness[7]
    assert result.metrics == {
        "fitness_value": table.fitness[7],
        "val": table.fitness[7],
        "flops": table.costs["flops"][7],
    }
    assert ev.free_metrics(genome) == {"flops": table.costs["flops"][7]}
    with pytest.raises(NotInTable, match="not a row"):
        ev.evaluate({"choices": {"op": "q", "width": "1", "act": "x"}})


def test_tabular_table_names_allowed_columns_for_a_bad_column(synthetic_csv):
    with pytest.raises(ValueError, match=r"fitness-column: no column 'acc'.*allowed: name, op, width"):
        TabularTable(synthetic_csv, "name", "acc", "test")


def test_bench_cli_json_output_has_the_documented_shape(synthetic_csv, capsys):
    argv = [
        "bench",
        "tabular",
        "--table",
        str(synthetic_csv),
        "--arch-column",
        "name",
        "--fitness-column",
        "val",
    ]
    argv += ["--report-column", "test", "--space", "categorical", "--choice-columns", "op,width,act"]
    argv += ["--cost-column", "flops", "--strategy", "random", "--budget", "10", "--repeats", "3", "--json"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert {"strategy", "budget", "repeats", "report", "runs", "seconds", "hypervolume"} <= set(out)
    assert (out["strategy"], out["budget"], out["repeats"]) == ("random", 10, 3)
    assert set(out["report"]) == {"mean", "std", "median"}
    run_keys = {"seed", "queries", "best_arch", "best_fitness", "best_report", "front", "seconds"}
    assert all(run_keys <= set(r) and r["queries"] == 10 for r in out["runs"])


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--strategy", "nope"], "--strategy: unknown 'nope'; allowed: "),
        (["--strategy", "random", "--report-column", "acc"], "report-column: no column 'acc'"),
        (["--strategy", "random", "--strategy-option", "speed=3"], "--strategy-option: speed"),
        (["--strategy", "random", "--space", "nb201"], "arch-column 'name'"),
        (["--strategy", "random", "--space", "grid"], "allowed: nb201, categorical"),
    ],
)
def test_bench_cli_rejects_bad_input_with_exit_code_2(synthetic_csv, capsys, extra, needle):
    argv = [
        "bench",
        "tabular",
        "--table",
        str(synthetic_csv),
        "--arch-column",
        "name",
        "--fitness-column",
        "val",
    ]
    argv += ["--report-column", "test", "--json"] + extra
    if "--space" not in extra:
        argv += ["--space", "categorical", "--choice-columns", "op,width,act"]
    assert main(argv) == 2
    assert needle in capsys.readouterr().err


def test_tabular_bench_random_search_on_nb201_table(nb201_table):
    out = run_tabular_bench(
        nb201_table, NB201Space(), "random", {}, 100, 5, 0, ["flops_M_cifar10"], None, [80, 230]
    )
    space = NB201Space()
    for run in out["runs"]:
        assert run["queries"] == 100
        assert run["best_arch"] in nb201_table.arch
        assert len({space.canonical({"arch": a}) for a in run["front"]}) == len(run["front"])
        assert 0.8 < run["hypervolume_ratio"] <= 1.0
    # random search with 100 queries lands in the good region of the space (published mean 93.70)
    assert 93.0 < out["report"]["mean"] < 94.4


def test_tabular_evaluator_uses_the_exact_row_of_each_isomorph(nb201_table):
    ev = TabularEvaluator(nb201_table, NB201Space())
    a = "|skip_connect~0|+|none~0|none~1|+|nor_conv_3x3~0|nor_conv_1x1~1|none~2|"
    b = "|skip_connect~0|+|none~0|none~1|+|nor_conv_1x1~0|nor_conv_3x3~1|none~2|"
    ra, rb = ev.row_of({"arch": a}), ev.row_of({"arch": b})
    assert ra != rb and nb201_table.arch[ra] == a and nb201_table.arch[rb] == b


def test_tabular_bench_records_rows_with_missing_figures_as_failed_and_goes_on(tmp_path):
    path = tmp_path / "gaps.csv"
    lines = ["name,op,val,test"] + [
        f"r{i},{op},{'' if op == 'b' else i},{i + 0.5}" for i, op in enumerate("abcd")
    ]
    path.write_text("\n".join(lines) + "\n")
    table = TabularTable(path, "name", "val", "test", choice_columns=["op"])
    out = run_tabular_bench(table, bench_space(table, "categorical"), "random", {}, 4, 1, 0, [])
    run = out["runs"][0]
    assert (run["queries"], run["failed"], run["best_arch"]) == (4, 1, "r3")


def test_tabular_table_names_line_and_column_of_a_non_number(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("name,val,test\nr0,1.0,2.0\nr1,high,2.0\n")
    with pytest.raises(ValueError, match="table line 3, column 'val': 'high' is not a number"):
        TabularTable(path, "name", "val", "test")


def test_bench_cli_prints_a_readable_table_without_json(synthetic_csv, capsys):
    argv = [
        "bench",
        "tabular",
        "--table",
        str(synthetic_csv),
        "--arch-column",
        "name",
        "--fitness-column",
        "val",
    ]
    argv += ["--report-column", "test", "--space", "categorical", "--choice-columns", "op,width,act"]
    argv += ["--strategy", "random", "--budget", "5", "--repeats", "2", "--seed", "7"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert lines[0].split()[:4] == ["seed", "queries", "fitness", "report"]
    assert [line.split()[0] for line in lines[2:4]] == ["7", "8"]
    assert "test: mean" in captured.out
    assert "2/2" in captured.err  # the progress bar went to stderr


def test_random_search_resumed_from_its_state_dict_continues_exactly():
    from worker.nas.strategies.random_search import RandomSearch
    from worker.nas.types import Result

    def step(strategy, i):
        genome = strategy.ask(1)[0]
        strategy.tell(genome, Result(fitness=float(i)))
        return genome["arch"]

    straight = RandomSearch(NB201Space(), seed=5)
    expected = [step(straight, i) for i in range(40)]
    first = RandomSearch(NB201Space(), seed=5)
    got = [step(first, i) for i in range(15)]
    resumed = RandomSearch(NB201Space(), seed=123)
    resumed.load_state_dict(json.loads(json.dumps(first.state_dict())))
    got += [step(resumed, i) for i in range(15, 40)]
    assert got == expected
    assert len({NB201Space().canonical({"arch": a}) for a in got}) == 40  # no isomorph proposed twice
