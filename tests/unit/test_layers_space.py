"""The `layers` space: repairs, errors, canonical form, operators, encoding, cost and graph."""

from __future__ import annotations

import json
import random

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from worker.nas.flops import count_flops, count_params
from worker.nas.spaces import make_space
from worker.nas.spaces.layers import LayersSpace
from worker.nas.types import TaskShape

torch.set_num_threads(1)
MNIST = TaskShape((1, 28, 28), 10)
TINY = TaskShape((1, 8, 8), 10)


def conv(filters: int = 8, **kw) -> dict:
    return {"type": "conv", "filters": filters, **kw}


def pool(kind: str = "max") -> dict:
    return {"type": "pool", "kind": kind}


def dense(units: int = 16, **kw) -> dict:
    return {"type": "dense", "units": units, **kw}


def drop(rate: float) -> dict:
    return {"type": "dropout", "rate": rate}


def space(task: TaskShape = MNIST, **options) -> LayersSpace:
    return make_space("layers", options, task)


def types(genome: dict) -> list[str]:
    return [layer["type"] for layer in genome["layers"]]


def forward_shape(s: LayersSpace, genome: dict) -> tuple[int, ...]:
    with torch.no_grad():
        return tuple(s.build(genome).eval()(torch.randn(2, *s.task.input_shape)).shape)


# --- repairs ---------------------------------------------------------------------------------------------
def test_validate_drops_poolings_once_an_8x8_map_is_1x1() -> None:
    s = space(TINY)
    genome = s.validate({"layers": [conv(), pool(), pool(), pool("avg"), pool(), pool(), conv(16)]})
    assert types(genome) == ["conv", "pool", "pool", "pool", "conv"]  # 8 -> 4 -> 2 -> 1, the rest dropped
    assert forward_shape(s, genome) == (2, 10)


def test_min_resolution_drops_poolings_and_strides_that_would_go_below_it() -> None:
    s = space(min_resolution=7, min_depth=1)
    genome = s.validate({"layers": [conv(), pool(), conv(stride=2), pool(), conv(16, stride=2)]})
    assert types(genome) == ["conv", "pool", "conv", "conv"]  # 28 -> 14 -> 7; the last stride reset
    assert [layer.get("stride") for layer in genome["layers"]] == [1, None, 2, 1]
    rng = random.Random(0)
    for _ in range(200):  # nothing the operators produce goes below 7x7 either
        g = s.mutate(s.sample(rng), rng)
        shapes = [n["shape"] for n in s.to_graph(g)["nodes"] if len(n.get("shape") or []) == 3]
        assert min(min(shape[1:]) for shape in shapes) >= 7


def test_validate_keeps_a_pooling_that_still_shrinks_one_side() -> None:
    s = space(TaskShape((1, 1, 5), 4))
    genome = s.validate({"layers": [conv(), pool(), pool(), pool(), pool()]})
    assert types(genome) == ["conv", "pool", "pool", "pool"]  # width 5 -> 3 -> 2 -> 1
    assert [n["shape"] for n in s.to_graph(genome)["nodes"]][1:5] == [
        [8, 1, 5],
        [8, 1, 3],
        [8, 1, 2],
        [8, 1, 1],
    ]
    assert forward_shape(s, genome) == (2, 4)


def test_validate_moves_a_conv_after_dense_layers_before_them() -> None:
    s = space()
    genome = s.validate({"layers": [conv(8), dense(32), drop(0.3), conv(16), pool()]})
    assert types(genome) == ["conv", "conv", "pool", "dense", "dropout"]
    assert [layer.get("filters") for layer in genome["layers"][:2]] == [8, 16]
    assert forward_shape(s, genome) == (2, 10)


def test_validate_resets_stride_on_a_1x1_map_and_shrinks_kernels_that_only_see_padding() -> None:
    s = space(TaskShape((1, 2, 2), 3))
    genome = s.validate({"layers": [conv(kernel=5), conv(stride=2), conv(kernel=5, stride=2)]})
    # 2x2 allows kernel 3 at most; after the stride the map is 1x1, where only kernel 1 and stride 1 matter.
    assert [(g["kernel"], g["stride"]) for g in genome["layers"]] == [(3, 1), (3, 2), (1, 1)]
    assert forward_shape(s, genome) == (2, 3)


def test_validate_pads_to_min_depth_when_repairs_remove_layers() -> None:
    s = space(TaskShape((1, 1, 1), 2), min_depth=2)
    genome = s.validate({"layers": [pool(), pool(), dense(8)]})
    assert types(genome) == ["conv", "dense"]  # both poolings dropped, one filler conv added
    assert forward_shape(s, genome) == (2, 2)


def test_validate_is_idempotent_for_filler_convs_on_a_1x1_map() -> None:
    s = space(TaskShape((2, 1, 1), 2), min_depth=3, kernels=[1, 3], separable=[True, False])
    genome = s.validate({"layers": [pool()]})
    assert [(g["kernel"], g["separable"]) for g in genome["layers"]] == [(1, False)] * 3
    assert s.validate(genome) == genome and forward_shape(s, genome) == (2, 2)


any_layer = st.one_of(
    st.builds(
        conv,
        st.integers(1, 12),
        kernel=st.sampled_from([1, 3, 5, 7, 9]),
        stride=st.sampled_from([1, 2]),
        separable=st.booleans(),
        batch_norm=st.booleans(),
        activation=st.sampled_from(["relu", "gelu", "silu", "elu", "tanh"]),
    ),
    st.builds(pool, st.sampled_from(["max", "avg"])),
    st.builds(drop, st.floats(0.0, 0.95)),
    st.builds(dense, st.integers(1, 12)),
)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    layers=st.lists(any_layer, max_size=8),
    shape=st.tuples(st.integers(1, 3), st.integers(1, 9), st.integers(1, 9)),
    head=st.sampled_from(["gap", "flatten"]),
)
def test_any_user_genome_within_limits_is_repaired_idempotently_and_runs(
    layers: list, shape: tuple[int, int, int], head: str
) -> None:
    s = space(TaskShape(shape, 3), min_depth=1, max_depth=8, max_dense=8, head=head)
    genome = s.validate({"layers": layers})
    assert s.validate(genome) == genome
    assert s.canonical({"layers": layers}) == s.canonical(genome)
    model = s.build(genome)
    assert forward_shape(s, genome) == (2, 3)
    assert s.cost(genome)["params"] == count_params(model)


def test_validate_fills_missing_fields_with_defaults() -> None:
    genome = space().validate({"layers": [{"type": "conv", "filters": 16}, {"type": "pool"}]})
    assert genome["layers"][0] == {
        "type": "conv",
        "filters": 16,
        "kernel": 3,
        "stride": 1,
        "activation": "relu",
        "batch_norm": True,
        "separable": False,
    }
    assert genome["layers"][1] == {"type": "pool", "kind": "max"}


# --- errors ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("layers", "message"),
    [
        ([{"type": "lstm"}], r"layers\[0\]\.type: expected one of \['conv', 'pool', 'dropout', 'dense'\]"),
        ([conv(-4)], r"layers\[0\]\.filters: expected an integer in \[1, 4096\]"),
        ([conv(8, kernel=4)], r"layers\[0\]\.kernel: expected an odd integer"),
        ([conv(8, stride=3)], r"layers\[0\]\.stride: expected one of \[1, 2\]"),
        ([conv(8, activation="swish")], r"layers\[0\]\.activation: expected one of \['relu', 'gelu'"),
        ([conv(8, batch_norm="yes")], r"layers\[0\]\.batch_norm: expected one of \[True, False\]"),
        ([conv(True)], r"layers\[0\]\.filters"),
        ([conv(8, padding=1)], r"layers\[0\]: unknown field\(s\) \['padding'\] for a conv; allowed"),
        ([conv(), pool("min")], r"layers\[1\]\.kind: expected one of \['max', 'avg'\]"),
        ([drop(1.5)], r"layers\[0\]\.rate: expected a number in \[0, 1\)"),
        ([{"type": "dense"}], r"layers\[0\]\.units: required"),
        ([conv(), "conv"], r"layers\[1\]: expected an object"),
        ([conv()] * 9, r"at most max_depth=8 layers"),
        ([conv(), dense(), dense(), dense()], r"at most max_dense=2 dense layers"),
    ],
)
def test_validate_rejects_garbage_naming_the_field(layers: list, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        space().validate({"layers": layers})


@pytest.mark.parametrize("genome", [None, [], {"layers": "conv"}, {"layers": [], "extra": 1}])
def test_validate_rejects_a_genome_that_is_not_a_layers_object(genome: object) -> None:
    with pytest.raises(ValueError, match=r"genome: expected an object \{'layers'"):
        space().validate(genome)


def test_options_reject_even_kernels_and_inverted_depths() -> None:
    with pytest.raises(ValidationError, match="kernels must be odd"):
        space(kernels=[3, 4])
    with pytest.raises(ValidationError, match=r"min_depth \(5\) must be <= max_depth \(3\)"):
        space(min_depth=5, max_depth=3)
    with pytest.raises(ValidationError, match="activations"):
        space(activations=["relu", "swish"])


def test_make_space_rejects_unknown_names_listing_the_allowed_ones() -> None:
    with pytest.raises(ValueError, match="unknown space 'resnet'; allowed: .*layers"):
        make_space("resnet", {}, MNIST)


# --- canonical form ----------------------------------------------------------------------------------------
def test_canonical_removes_zero_dropout_and_merges_back_to_back_dropouts() -> None:
    s = space()
    a = {"layers": [conv(), drop(0.0), pool(), drop(0.5), drop(0.5), dense()]}
    b = {"layers": [conv(), pool(), drop(0.75), dense()]}
    assert s.canonical(a) == s.canonical(b)
    assert s.canonical(a) != s.canonical({"layers": [conv(), pool(), drop(0.5), dense()]})


def test_canonical_ignores_key_order_defaults_and_separable_1x1() -> None:
    s = space()
    a = {"layers": [{"filters": 8, "type": "conv", "kernel": 1, "separable": True}]}
    b = {"layers": [conv(8, kernel=1, stride=1, activation="relu", batch_norm=True)]}
    assert s.canonical(a) == s.canonical(b)
    assert s.canonical(a) != s.canonical({"layers": [conv(8, kernel=1, batch_norm=False)]})


# --- operators ---------------------------------------------------------------------------------------------
def test_mutation_respects_depth_limits_and_changes_the_genome() -> None:
    s = space(min_depth=3, max_depth=4)
    rng = random.Random(1)
    genome = s.sample(rng)
    changed = 0
    for _ in range(200):
        child = s.mutate(genome, rng)
        assert 3 <= len(child["layers"]) <= 4
        changed += s.canonical(child) != s.canonical(genome)
        genome = child
    assert changed >= 190


def test_mutation_uses_add_remove_and_change() -> None:
    s = space(min_depth=1, max_depth=8)
    rng = random.Random(3)
    genome = {"layers": [conv(8), conv(16), pool()]}
    lengths = {len(s.mutate(genome, rng)["layers"]) for _ in range(100)}
    assert {2, 3, 4} <= lengths


def test_crossover_is_one_point_over_the_layer_lists() -> None:
    # Children are a cut of each parent with the tails swapped, then repaired (convs before dense).
    s = space(min_depth=1, max_depth=8)
    a = s.validate({"layers": [conv(8), conv(16), pool(), dense(32)]})["layers"]
    b = s.validate({"layers": [conv(24, stride=2), conv(48), drop(0.2), dense(64)]})["layers"]
    rng = random.Random(0)
    for _ in range(50):
        c1, c2 = s.crossover({"layers": a}, {"layers": b}, rng)
        cuts = [
            (i, j)
            for i in range(5)
            for j in range(5)
            if c1 == s.validate({"layers": a[:i] + b[j:]}) and c2 == s.validate({"layers": b[:j] + a[i:]})
        ]
        assert cuts, (c1, c2)
        assert cuts[0] not in ((0, 0), (4, 4))


def test_sampled_nets_include_small_ones_under_25k_params_for_fashion_mnist() -> None:
    s = space()
    rng = random.Random(0)
    params = [s.cost(s.sample(rng))["params"] for _ in range(200)]
    assert sum(p <= 25_000 for p in params) >= 40
    assert max(params) > 25_000


# --- encoding ----------------------------------------------------------------------------------------------
def test_decode_of_all_none_slots_gives_min_depth_filler_convs() -> None:
    s = space(min_depth=2)
    genome = s.decode([0] * len(s.decisions()))
    assert types(genome) == ["conv", "conv"]
    assert forward_shape(s, genome) == (2, 10)


def test_decode_rejects_out_of_range_choices_naming_the_index() -> None:
    s = space()
    choices = [0] * len(s.decisions())
    choices[1] = 99
    with pytest.raises(ValueError, match=r"choices\[1\]: expected an integer in \[0, 7\]"):
        s.decode(choices)


def test_encode_snaps_off_grid_values_to_the_nearest_grid_value() -> None:
    s = space()
    snapped = s.decode(s.encode({"layers": [conv(30), drop(0.33)]}))
    assert snapped["layers"][0]["filters"] == 32 and snapped["layers"][1]["rate"] == 0.3


# --- cost, graph, description -------------------------------------------------------------------------------
COST_GENOMES = [
    [conv(8, kernel=5, stride=2), pool("avg"), conv(16, separable=True), drop(0.2), dense(32)],
    [conv(16, batch_norm=False, activation="gelu"), conv(24, separable=True, batch_norm=False, stride=2)],
    [conv(8, kernel=1), pool(), pool(), conv(32, kernel=3, separable=True, stride=2), dense(64), dense(16)],
]


@pytest.mark.parametrize("head", ["gap", "flatten"])
@pytest.mark.parametrize("layers", COST_GENOMES)
def test_cost_matches_the_built_models_params_and_flop_counter(layers: list, head: str) -> None:
    for task in (MNIST, TaskShape((3, 13, 11), 7)):
        s = space(task, head=head)
        model = s.build({"layers": layers})
        cost = s.cost({"layers": layers})
        assert cost["params"] == count_params(model)
        assert cost["flops"] == count_flops(model, task.input_shape)


def test_to_graph_chains_input_layers_head_and_output_with_shapes() -> None:
    s = space()
    graph = s.to_graph({"layers": [conv(32, stride=2), pool(), dense(64)]})
    assert [n["id"] for n in graph["nodes"]] == ["input", "L0", "L1", "head", "L2", "output"]
    assert [n["shape"] for n in graph["nodes"]] == [[1, 28, 28], [32, 14, 14], [32, 7, 7], [32], [64], [10]]
    assert graph["nodes"][1]["params"] == 32 * 9 + 64
    assert [(e["source"], e["target"]) for e in graph["edges"]] == [
        ("input", "L0"),
        ("L0", "L1"),
        ("L1", "head"),
        ("head", "L2"),
        ("L2", "output"),
    ]
    json.dumps(graph)


def test_describe_gives_a_short_label() -> None:
    s = space()
    genome = {
        "layers": [conv(32), conv(64, separable=True, stride=2, kernel=5), pool(), drop(0.25), dense(128)]
    }
    assert s.describe(genome) == "C32-SC64k5/2-P-Dr0.25-D128"
