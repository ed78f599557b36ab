from __future__ import annotations

import math
import random

import pytest
import torch
from torch import nn

from worker.nas.evaluation.proxies import naswot, synflow_log, zero_cost_metrics
from worker.nas.spec import parse_spec


def small_net() -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4))


def test_synflow_of_a_linear_chain_is_its_depth_times_the_output_sum():
    # Synaptic flow is conserved layer by layer: each layer's Σ|θ·∂R/∂θ| equals R = 1ᵀ|W2||W1|1.
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 7, bias=False), nn.Linear(7, 3, bias=False))
    w1, w2 = net[0].weight.detach().abs().double(), net[1].weight.detach().abs().double()
    r = float((w2 @ w1 @ torch.ones(5, dtype=torch.float64)).sum())
    assert synflow_log(net, (5,)) == pytest.approx(math.log(2 * r), rel=1e-6)


def test_naswot_kernel_of_a_batch_with_a_repeated_input_is_singular():
    torch.manual_seed(0)
    x = torch.randn(8, 16)
    assert math.isfinite(naswot(small_net(), x))
    x[1] = x[0]  # two identical activation codes: two equal rows of K
    assert naswot(small_net(), x) == float("-inf")


def test_naswot_scores_a_network_that_separates_inputs_above_one_that_cannot():
    torch.manual_seed(0)
    x = torch.randn(16, 16)
    narrow = nn.Sequential(nn.Flatten(), nn.Linear(16, 2), nn.ReLU(), nn.Linear(2, 4))
    wide = nn.Sequential(nn.Flatten(), nn.Linear(16, 256), nn.ReLU(), nn.Linear(256, 4))
    assert naswot(wide, x) > naswot(narrow, x)


def test_proxies_leave_the_weights_and_the_random_stream_untouched():
    torch.manual_seed(1)
    net = nn.Sequential(nn.Flatten(), nn.Linear(16, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Dropout(0.5))
    net.append(nn.Linear(32, 4))
    before = {k: v.clone() for k, v in net.state_dict().items()}
    x, y = torch.randn(8, 16), torch.randint(0, 4, (8,))
    torch.manual_seed(7)
    metrics = zero_cost_metrics(net, x, y, (16,))
    after_draw = torch.rand(3)
    torch.manual_seed(7)
    assert torch.equal(after_draw, torch.rand(3))  # as if the proxies had never run
    for k, v in net.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert set(metrics) == {"zc_naswot", "zc_synflow", "zc_grad_norm", "zc_seconds"}
    assert metrics["zc_grad_norm"] > 0
    assert all(math.isfinite(v) for v in metrics.values())


def test_a_candidate_trains_to_the_same_result_with_and_without_proxies(tmp_path):
    from worker.nas.evaluation.evaluator import TrainingEvaluator
    from worker.nas.factory import make_space
    from worker.nas.types import TaskShape

    def spec(proxies: bool):
        return parse_spec(
            {
                "space": {"type": "layers", "max_depth": 3, "filters": [8, 16]},
                "strategy": {"type": "random"},
                "dataset": {"name": "digits", "train_subset": 300},
                "training": {"epochs": 2, "batch_size": 64, "zero_cost_proxies": proxies},
                "final": {"top_k": 0},
            }
        )

    probe = TrainingEvaluator(spec(True), None)
    space = make_space(spec(True), TaskShape(probe.splits.input_shape, probe.splits.n_classes))
    genome = space.sample(random.Random(3))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # bit-identical arithmetic on both sides
    try:
        runs = [
            TrainingEvaluator(spec(p), space, splits=probe.splits).evaluate(genome).result.metrics
            for p in (True, False)
        ]
    finally:
        torch.set_num_threads(threads)
    with_proxies, without = runs
    assert {"zc_naswot", "zc_synflow", "zc_grad_norm"} <= set(with_proxies)
    assert not any(k.startswith("zc_") for k in without)
    assert with_proxies["val_accuracy"] == without["val_accuracy"]
    assert with_proxies["val_loss"] == without["val_loss"]
