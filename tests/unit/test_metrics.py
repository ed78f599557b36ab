from __future__ import annotations

import math

import pytest
import torch

from worker.nas.evaluation.metrics import (
    count_flops,
    count_params,
    efficiency_metrics,
    measure_latency_ms,
    peak_memory_mb,
)


def test_params_count_every_parameter_tensor_as_model_size():
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.Flatten(), torch.nn.Linear(4 * 6 * 6, 10))
    assert count_params(net) == (4 * 9 + 4) + (144 * 10 + 10)
    net[0].weight.requires_grad_(False)  # frozen weights still ship with the model
    assert count_params(net) == (4 * 9 + 4) + (144 * 10 + 10)


def test_flops_follow_multiply_add_convention():
    assert count_flops(torch.nn.Linear(20, 7), (1, 1, 20)) == 2 * 20 * 7
    conv = torch.nn.Conv2d(3, 8, 3, padding=1, bias=False)
    assert count_flops(conv, (3, 10, 10)) == 2 * (8 * 10 * 10) * (3 * 9)


def test_flops_do_not_change_training_mode():
    net = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Dropout(0.5))
    net.train()
    count_flops(net, (1, 1, 4))
    assert net.training


def test_latency_is_a_positive_median_and_bigger_for_bigger_batches():
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 32, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.Flatten(),
        torch.nn.Linear(32 * 16 * 16, 10),
    )
    one = measure_latency_ms(net, (1, 16, 16), batch=1, device="cpu", repeats=5)
    many = measure_latency_ms(net, (1, 16, 16), batch=256, device="cpu", repeats=5)
    assert 0 < one < many and math.isfinite(many)
    assert torch.get_num_threads() >= 1


def test_peak_memory_is_not_invented_on_cpu():
    assert peak_memory_mb(torch.device("cpu")) is None


def test_efficiency_metrics_has_both_latencies():
    m = efficiency_metrics(
        torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10)),
        (1, 8, 8),
        torch.device("cpu"),
        repeats=4,
    )
    assert set(m) == {"params", "flops", "latency_ms", "latency_ms_b64"} and m["params"] == 650


def test_a_latency_figure_ignores_a_burst_of_interference_that_slows_a_minority_of_calls() -> None:
    from worker.nas.evaluation.latency_stat import latency_of

    quiet = [1.00, 1.01, 1.02, 0.99, 1.00, 1.01, 1.00, 1.02, 0.99, 1.01] * 2
    burst = quiet[:9] + [1.8] * 11  # more than half the calls inside a slow phase: the median moves
    assert abs(latency_of(burst) - latency_of(quiet)) / latency_of(quiet) < 0.02
    assert 0.99 <= latency_of(quiet) <= 1.0


def test_a_latency_figure_needs_timed_calls() -> None:
    from worker.nas.evaluation.latency_stat import latency_of

    with pytest.raises(ValueError, match="no timed calls"):
        latency_of([])
