from __future__ import annotations

import csv
import json
import random
from collections import defaultdict
from pathlib import Path

import pytest

from worker.nas.spaces.nb201 import EDGES, OPS, NB201Space, canonical_arch, format_arch, parse_arch
from worker.nas.types import TaskShape

TABLE = Path(__file__).resolve().parents[2] / ".." / "shared" / "benchmarks" / "nb201" / "nb201_cifar10.csv"
EXAMPLE = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
CIFAR = TaskShape(input_shape=(3, 32, 32), n_classes=10)


@pytest.fixture(scope="module")
def table_rows() -> list[dict[str, str]]:
    if not TABLE.exists():
        pytest.skip(f"NAS-Bench-201 table not found at {TABLE} (needs ../shared/benchmarks/nb201/)")
    with TABLE.open(newline="") as f:
        return list(csv.DictReader(f))


def test_arch_str_round_trips_through_parse_and_format():
    ops = parse_arch(EXAMPLE)
    assert ops == (
        "nor_conv_3x3",
        "nor_conv_3x3",
        "avg_pool_3x3",
        "skip_connect",
        "nor_conv_3x3",
        "skip_connect",
    )
    assert format_arch(ops) == EXAMPLE


@pytest.mark.parametrize(
    ("bad", "needle"),
    [
        ("|conv_5x5~0|+|none~0|none~1|+|none~0|none~1|none~2|", "allowed: none, skip_connect"),
        ("|none~0|+|none~0|none~1|", "3 '+'-separated"),
        ("|none~0|+|none~0|none~0|+|none~0|none~1|none~2|", "node 2 needs one edge"),
        ("|none0|+|none~0|none~1|+|none~0|none~1|none~2|", "not 'op~source'"),
    ],
)
def test_parse_arch_rejects_bad_strings_naming_the_problem(bad, needle):
    with pytest.raises(ValueError, match="arch") as err:
        parse_arch(bad)
    assert needle in str(err.value)


def test_operators_produce_valid_json_genomes_and_mutation_changes_one_edge():
    space, rng = NB201Space(), random.Random(0)
    for _ in range(200):
        a, b = space.sample(rng), space.sample(rng)
        m = space.mutate(a, rng)
        assert sum(x != y for x, y in zip(space.ops(a), space.ops(m), strict=True)) == 1
        for child in (*space.crossover(a, b, rng), m):
            assert space.validate(json.loads(json.dumps(child))) == child
            assert space.decode(space.encode(child)) == child


def test_crossover_children_take_each_edge_from_a_parent():
    space, rng = NB201Space(), random.Random(1)
    a, b = space.sample(rng), space.sample(rng)
    c1, c2 = space.crossover(a, b, rng)
    for pa, pb, x, y in zip(space.ops(a), space.ops(b), space.ops(c1), space.ops(c2), strict=True):
        assert {x, y} == {pa, pb}


def test_canonical_equal_for_isomorphic_cells_and_differs_otherwise():
    # node 3 = conv(x0) + conv(node1) with node1 = x0 via skip: both orders of the same two terms
    a = "|skip_connect~0|+|none~0|none~1|+|nor_conv_3x3~0|nor_conv_1x1~1|none~2|"
    b = "|skip_connect~0|+|none~0|none~1|+|nor_conv_1x1~0|nor_conv_3x3~1|none~2|"
    c = "|skip_connect~0|+|none~0|none~1|+|nor_conv_1x1~0|nor_conv_1x1~1|none~2|"
    assert canonical_arch(a) == canonical_arch(b) != canonical_arch(c)
    # an edge into a node that never reaches the output does not matter
    d = "|nor_conv_3x3~0|+|avg_pool_3x3~0|none~1|+|skip_connect~0|none~1|none~2|"
    e = "|nor_conv_1x1~0|+|nor_conv_3x3~0|none~1|+|skip_connect~0|none~1|none~2|"
    assert canonical_arch(d) == canonical_arch(e)


def test_canonical_partitions_table_exactly_like_unique_str(table_rows):
    by_unique: dict[str, set[str]] = defaultdict(set)
    by_ours: dict[str, set[str]] = defaultdict(set)
    for row in table_rows:
        by_unique[row["unique_str"]].add(row["arch_str"])
        by_ours[canonical_arch(row["arch_str"])].add(row["arch_str"])
    assert len(table_rows) == 15625
    assert len(by_ours) == len(by_unique) == 6466
    assert {frozenset(g) for g in by_ours.values()} == {frozenset(g) for g in by_unique.values()}


def test_cost_matches_table_params_and_flops(table_rows):
    space = NB201Space(task=CIFAR)
    for row in random.Random(3).sample(table_rows, 300):
        cost = space.cost({"arch": row["arch_str"]})
        # the table stores 6 significant digits
        assert cost["params"] / 1e6 == pytest.approx(float(row["params_M_cifar10"]), rel=6e-6)
        assert cost["flops"] / 1e6 == pytest.approx(float(row["flops_M_cifar10"]), rel=6e-6)


def test_cost_params_equal_the_built_models_parameter_count():
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    space = NB201Space(NB201Space.Options(C=8, N=2), task=TaskShape((1, 28, 28), 7))
    for arch in (EXAMPLE, format_arch(["nor_conv_1x1"] * 6), format_arch(["none"] * 6)):
        model = space.build({"arch": arch})
        assert space.cost({"arch": arch})["params"] == sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("task", [CIFAR, TaskShape((1, 28, 28), 10), TaskShape((3, 15, 15), 4)])
def test_build_forward_gives_logits_for_the_task_shape(task):
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    space = NB201Space(NB201Space.Options(C=4, N=1), task=task)
    for ops in ([OPS[3]] * len(EDGES), ["none"] * len(EDGES), list(parse_arch(EXAMPLE))):
        model = space.build({"arch": format_arch(ops)})
        out = model(torch.randn(2, *task.input_shape))
        assert out.shape == (2, task.n_classes)


def test_to_graph_has_one_labelled_edge_per_non_none_op():
    graph = NB201Space().to_graph(
        {"arch": "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|none~0|none~1|avg_pool_3x3~2|"}
    )
    assert [n["id"] for n in graph["nodes"]] == [0, 1, 2, 3]
    assert {(e["source"], e["target"], e["label"]) for e in graph["edges"]} == {
        (0, 1, "nor_conv_3x3"),
        (1, 2, "skip_connect"),
        (2, 3, "avg_pool_3x3"),
    }


def test_path_encode_counts_input_output_paths_by_their_operations():
    from worker.nas.spaces.nb201 import PATH_INDEX

    space = NB201Space()
    # 0→1 conv3, 0→2 conv3, 1→2 conv3, 0→3 skip, 1→3 conv1, 2→3 conv3
    best = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_1x1~1|nor_conv_3x3~2|"
    counts = space.path_encode({"arch": best})
    assert len(counts) == len(PATH_INDEX) == 40
    named = {seq: counts[i] for seq, i in PATH_INDEX.items() if counts[i]}
    c3, c1 = "nor_conv_3x3", "nor_conv_1x1"
    assert named == {(): 1.0, (c3, c1): 1.0, (c3, c3): 1.0, (c3, c3, c3): 1.0}
    # a `none` edge cuts every path through it; an all-`none` cell has no path at all
    cut = "|none~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_1x1~1|nor_conv_3x3~2|"
    assert sum(space.path_encode({"arch": cut})) == 2.0
    empty = format_arch(["none"] * len(EDGES))
    assert sum(space.path_encode({"arch": empty})) == 0.0
    # isomorphic cells have the same paths
    rng = random.Random(0)
    by_class: dict[str, list[float]] = {}
    for _ in range(500):
        g = space.sample(rng)
        assert by_class.setdefault(space.canonical(g), space.path_encode(g)) == space.path_encode(g)
