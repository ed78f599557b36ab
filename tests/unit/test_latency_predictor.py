"""The latency predictor: operator decomposition, per-device tables in the cache dir, the regression, and
the error summary."""

from __future__ import annotations

import json
import random

import pytest
import torch

from worker.nas.latency_error import error_summary, spearman
from worker.nas.latency_ops import (
    FIRST_PASSES,
    MAX_PASSES,
    OP_PASSES,
    OVERHEAD_KEY,
    RETIME_AFTER_S,
    OpTable,
    layers_ops,
    vit_ops,
)
from worker.nas.latency_predictor import MIN_FIT, LatencyPredictor, op_kind
from worker.nas.spaces.layers import LayersSpace
from worker.nas.spaces.vit import ViTSpace
from worker.nas.types import TaskShape

pytest.importorskip("onnxruntime")

DIGITS = TaskShape((1, 8, 8), 10)
SMALL = {"layers": [{"type": "conv", "filters": 8, "kernel": 3}, {"type": "pool"}]}
BIG = {
    "layers": [
        {"type": "conv", "filters": 128, "kernel": 5},
        {"type": "conv", "filters": 128, "kernel": 5},
        {"type": "conv", "filters": 128, "kernel": 5},
        {"type": "dense", "units": 256},
    ]
}


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NASBOARD_CACHE_DIR", str(tmp_path))
    return tmp_path


def test_layers_genome_splits_into_shaped_operators_and_dropout_vanishes():
    space = LayersSpace(task=DIGITS)
    genome = space.validate(
        {
            "layers": [
                {"type": "conv", "filters": 16, "stride": 2},
                {"type": "dropout", "rate": 0.2},
                *BIG["layers"][3:],
            ]
        }
    )
    keys = [key for key, _, _ in layers_ops(genome, DIGITS, "gap")]
    assert keys == [
        "conv:1x8x8:f16k3s2:bn:full:relu",
        "head:gap:16x4x4",
        "dense:16:256:relu",
        "linear:256:10",
    ]


def test_vit_blocks_with_the_same_shape_share_one_operator():
    space = ViTSpace(task=DIGITS)
    block = {"mixer": "attention", "heads": 2, "mlp_ratio": 2}
    genome = space.validate({"dim": 32, "blocks": [block, block], "stem": {"type": "patch", "patch": 4}})
    keys = [key for key, _, _ in vit_ops(genome, DIGITS)]
    assert len(keys) == 4 and keys[1] == keys[2] == "vit-block:t4:d32:attn2:r2"


def test_predicts_from_a_table_timed_once_per_device_kind_in_the_cache_dir(cache):
    space = LayersSpace(task=DIGITS)
    first = LatencyPredictor(space)
    small, big = first.predict(space.validate(SMALL)), first.predict(space.validate(BIG))
    assert 0 < small < big  # three 128-filter 5x5 convs cost far more than one 8-filter 3x3 conv
    assert first.table.timed_now >= 5
    first.table.settle()  # every operator's later passes, now
    big = first.predict(space.validate(BIG))
    (table,) = (cache / "latency").glob("*.json")
    stored = json.loads(table.read_text())
    assert stored["device_kind"] == first.device_kind and OVERHEAD_KEY in stored["ops"]
    assert set(stored["passes"].values()) == {OP_PASSES}

    again = LatencyPredictor(space)  # a later search on this device kind: nothing timed again
    assert again.predict(space.validate(BIG)) == pytest.approx(big)
    assert again.table.timed_now == 0 and again.table.retimed_now == 0


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_an_operator_timed_during_a_burst_is_lowered_by_its_later_passes(cache):
    """The first passes run in a row and a burst of load can cover them all; the later ones come
    RETIME_AFTER_S apart at least, and the lowest pass is kept."""
    calls: dict[str, int] = {}

    def timer(module, shape, threads):  # every operator reads 3x its time in its first passes (the burst)
        name = f"{type(module).__name__}{shape}"

        def one_pass():
            calls[name] = calls.get(name, 0) + 1
            return 0.01 * (3 if calls[name] <= FIRST_PASSES else 1)

        return one_pass

    clock = _Clock()
    table = OpTable(DIGITS, cache_dir=cache, timer=timer, clock=clock)
    ops = layers_ops(LayersSpace(task=DIGITS).validate(SMALL), DIGITS, "gap")
    table.ensure(ops)
    assert {table.passes[k] for k, _, _ in ops} == {FIRST_PASSES} and table.raw[ops[0][0]] == 0.03
    clock.now = RETIME_AFTER_S / 2
    table.ensure(ops)  # too soon: the same burst may still be on
    assert table.retimed_now == 0
    clock.now = RETIME_AFTER_S
    table.ensure(ops)
    assert table.retimed_now == len(ops) + 1  # the overhead is an operator too
    assert table.raw[ops[0][0]] == pytest.approx(0.01) and table.time(ops[0][0]) == pytest.approx(0.0)
    assert table.settle() == len(ops) + 1 and table.settle() == 0
    assert {table.passes[k] for k, _, _ in ops} == {OP_PASSES}


def test_two_workers_timing_one_device_kind_keep_each_others_operators(cache):
    space = LayersSpace(task=DIGITS)
    a, b = _fake_table(DIGITS, cache), _fake_table(DIGITS, cache)  # both loaded the empty table
    small, big = (
        layers_ops(space.validate(SMALL), DIGITS, "gap"),
        layers_ops(space.validate(BIG), DIGITS, "gap"),
    )
    a.ensure(small)
    b.ensure(big)  # saves after `a` did
    later = _fake_table(DIGITS, cache)
    assert {k for k, _, _ in small + big} <= set(later.raw)


def _stuck_high_timer(high_key_part: str, factor: float = 3.0):
    """Every operator reads its true time (by its input's rank) except those whose module name contains
    `high_key_part`: they read `factor`x in their first OP_PASSES passes (a load that outlasted them)."""
    calls: dict[str, int] = {}

    def timer(module, shape, threads):
        name = repr(module) + repr(shape)

        def one_pass():
            calls[name] = calls.get(name, 0) + 1
            stuck = high_key_part in name and calls[name] <= OP_PASSES
            return 0.01 * (1 + len(shape)) * (factor if stuck else 1.0)

        return one_pass

    return timer


def test_a_network_measured_well_under_its_prediction_gives_its_operators_another_pass(cache):
    space = LayersSpace(task=DIGITS)
    clock = _Clock()
    table = OpTable(DIGITS, cache_dir=cache, timer=_stuck_high_timer("Conv2d"), clock=clock)
    predictor = LatencyPredictor(space, table=table, in_context=False)
    genome = space.validate(BIG)
    predictor.base_ms(genome)
    table.settle()
    high = predictor.predict(genome)
    ops = layers_ops(genome, DIGITS, "gap")
    true_ms = table.overhead + sum(0.01 * (1 + len(shape)) - table.overhead for _, _, shape in ops)
    assert high > 1.5 * true_ms  # every conv entry still reads 3x after its OP_PASSES passes

    assert predictor.observe(genome, high) == 0  # measured as predicted: nothing to refine
    clock.now = RETIME_AFTER_S
    generation = table.generation
    refined = predictor.observe(genome, true_ms)  # well under: each distinct operator gets a pass
    assert refined == len({k for k, _, _ in ops}) and table.refined_now == refined
    assert table.generation > generation
    assert predictor.predict(genome) == pytest.approx(true_ms)
    assert predictor.observe(genome, 0.5 * true_ms) == 0  # too soon after the last pass
    clock.now = 100 * RETIME_AFTER_S
    for _ in range(MAX_PASSES):
        clock.now += RETIME_AFTER_S
        predictor.observe(genome, 0.5 * true_ms)
    assert max(table.passes[k] for k, _, _ in ops) == MAX_PASSES  # the passes on evidence are capped


def test_rows_observed_before_the_table_was_refined_are_figured_again(cache):
    space = LayersSpace(task=DIGITS)
    clock = _Clock()
    table = OpTable(DIGITS, cache_dir=cache, timer=_stuck_high_timer("Conv2d"), clock=clock)
    predictor = LatencyPredictor(space, table=table, in_context=False)
    rng = random.Random(4)
    genomes = [space.validate(space.sample(rng)) for _ in range(MIN_FIT + 6)]
    for g in genomes:
        predictor.base_ms(g)
    table.settle()
    truth = {}
    clock.now = RETIME_AFTER_S
    for g in genomes:  # the first one's evidence refines the entries the later ones share
        ops = layers_ops(g, DIGITS, "gap")
        truth[space.canonical(g)] = table.overhead + sum(
            0.01 * (1 + len(s)) - table.overhead for *_, s in ops
        )
    for g in genomes:
        predictor.observe(g, truth[space.canonical(g)])
    # Every row's features are the refined table's: it predicts them exactly, so no regression is needed.
    assert predictor.coef is None
    assert all(predictor.predict(g) == pytest.approx(truth[space.canonical(g)]) for g in genomes)


def _fake_table(task, cache, ms_per_op=0.01):
    """A table whose 'timings' are deterministic: an operator costs by its input's rank."""
    return OpTable(
        task, cache_dir=cache, timer=lambda module, shape, threads: lambda: ms_per_op * (1 + len(shape))
    )


def test_regression_on_measured_candidates_corrects_a_biased_table(cache):
    space = ViTSpace(task=DIGITS)
    predictor = LatencyPredictor(space, table=_fake_table(DIGITS, cache))
    rng = random.Random(1)
    genomes = [space.sample(rng) for _ in range(MIN_FIT + 10)]

    def truth(g):  # the device: 3x the table's sum plus a fixed 0.05 ms
        return 3.0 * predictor.base_ms(g) + 0.05

    held_out = genomes[MIN_FIT:]
    before = error_summary([predictor.predict(g) for g in held_out], [truth(g) for g in held_out])
    for g in genomes[:MIN_FIT]:
        predictor.observe(g, truth(g))
    after = error_summary([predictor.predict(g) for g in held_out], [truth(g) for g in held_out])
    assert before["within_10pct"] == 0.0
    assert after["within_10pct"] == 1.0 and after["median_abs_pct_error"] < 1.0


def test_regression_learns_a_cost_that_only_one_operator_kind_pays_in_the_whole_network(cache):
    space = ViTSpace(task=DIGITS)
    predictor = LatencyPredictor(space, table=_fake_table(DIGITS, cache))
    rng = random.Random(3)
    genomes = [space.validate(space.sample(rng)) for _ in range(40)]

    def truth(g):  # the device: the table's sum, plus 0.02 ms per attention block and none per token MLP
        return predictor.base_ms(g) + 0.02 * sum(b["mixer"] == "attention" for b in g["blocks"])

    for g in genomes[:25]:
        predictor.observe(g, truth(g))
    held_out = genomes[25:]
    after = error_summary([predictor.predict(g) for g in held_out], [truth(g) for g in held_out])
    assert predictor.coef is not None
    assert after["within_10pct"] == 1.0 and after["median_abs_pct_error"] < 1.0
    keys = ("vit-block:t5:d32:attn2:r2", "vit-block:t5:d32:tokmlp:r4", "conv:1x8x8:f8k3s1:bn:full:relu")
    assert [op_kind(k) for k in keys] == ["vit-block:attn", "vit-block:tokmlp", "conv"]


def test_no_regression_before_enough_measured_candidates(cache):
    space = ViTSpace(task=DIGITS)
    predictor = LatencyPredictor(space, table=_fake_table(DIGITS, cache))
    g = space.sample(random.Random(0))
    predictor.observe(g, 100.0)
    assert predictor.predict(g) == pytest.approx(predictor.base_ms(g))


def test_error_summary_counts_the_share_within_ten_percent_and_ranks():
    s = error_summary([1.0, 2.05, 3.5, 4.0], [1.0, 2.0, 3.0, 5.0])
    assert s["n"] == 4 and s["within_10pct"] == 0.5
    assert s["spearman"] == pytest.approx(1.0)
    assert s["median_abs_pct_error"] == pytest.approx((2.5 + 16.6667) / 2, rel=1e-3)
    assert spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert error_summary([], [])["within_10pct"] is None


def test_the_table_alone_is_kept_when_the_regression_does_not_beat_it_out_of_sample(cache):
    space = ViTSpace(task=DIGITS)
    predictor = LatencyPredictor(space, table=_fake_table(DIGITS, cache))
    rng = random.Random(2)
    genomes = [space.sample(rng) for _ in range(MIN_FIT + 10)]
    for g in genomes:  # the device is exactly the table: nothing for a regression to correct
        predictor.observe(g, predictor.base_ms(g))
    assert predictor.coef is None
    assert all(predictor.predict(g) == predictor.base_ms(g) for g in genomes)


def _reorder_timer(reorder: float, per_leaf: float):
    """A device where a run with any conv pays `reorder` once (into a blocked layout and back) plus
    `per_leaf` per leaf module: each conv timed alone pays the reorder that a chain of convs pays once."""

    def timer(module, shape, threads):
        leaves = [m for m in module.modules() if not list(m.children())]
        convs = any(isinstance(m, torch.nn.Conv2d) for m in leaves)
        return lambda: reorder * convs + per_leaf * len(leaves)

    return timer


def test_operators_timed_in_neighbouring_pairs_pay_a_conv_chains_reorder_once(cache):
    from worker.nas.latency_ops import build_op

    space = LayersSpace(task=DIGITS)
    genome = space.validate(BIG)  # three convs, the head, a dense layer, the classifier
    ops = layers_ops(genome, DIGITS, "gap")
    timer = _reorder_timer(0.2, 0.01)
    table = OpTable(DIGITS, cache_dir=cache, timer=timer)
    whole = timer(torch.nn.Sequential(*(build_op(args, DIGITS) for _, args, _ in ops)), (1, 8, 8), 1)()
    in_context = LatencyPredictor(space, table=table)  # `layers` is timed in pairs by default
    alone = LatencyPredictor(space, table=table, in_context=False)
    assert in_context.in_context and not alone.in_context
    assert in_context.predict(genome) == pytest.approx(whole)
    # alone: the 2nd and 3rd conv pay the reorder again; every operator but one loses a leaf's overhead
    assert alone.predict(genome) - whole == pytest.approx(2 * 0.2 - (len(ops) - 1) * 0.01)
