"""Efficiency figures of a network: parameters, FLOPs, measured latency, peak memory.

Peak memory is reported only where the allocator tells us (cuda's max_memory_allocated). On CPU torch
allocates through the C++ allocator, which neither tracemalloc nor Python can see, so we report nothing
rather than a figure that would look precise and be wrong.
"""

from __future__ import annotations

import time

import torch

from worker.nas.evaluation.latency_stat import latency_of
from worker.nas.flops import count_flops, count_params


def measure_latency_ms(
    model: torch.nn.Module,
    input_shape: tuple[int, int, int],
    *,
    batch: int = 1,
    device: torch.device | str | None = None,
    warmup: int = 5,
    repeats: int = 20,
) -> float:
    """Wall time of one forward pass (ms; `latency_of`: a low quantile) after warm-up, synchronising cuda
    around each call.

    On CPU it runs single-threaded: on shared cores a multi-threaded small forward pass waits for worker
    threads to be scheduled (measured here: 16 ms instead of 0.07 ms per call), which would rank
    candidates by the machine's load instead of by their cost.
    """
    device = torch.device(device) if device is not None else next(model.parameters()).device
    threads = torch.get_num_threads()
    if device.type == "cpu":
        torch.set_num_threads(1)
    try:
        return _time_ms(model, input_shape, batch, device, warmup, repeats)
    finally:
        torch.set_num_threads(threads)


@torch.inference_mode()
def _time_ms(
    model: torch.nn.Module,
    input_shape: tuple[int, int, int],
    batch: int,
    device: torch.device,
    warmup: int,
    repeats: int,
) -> float:
    was_training = model.training
    model.eval()
    x = torch.randn(batch, *input_shape, device=device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    # Warm up for `warmup` calls and at least 0.1 s (kernel selection, caches).
    t_start, n = time.perf_counter(), 0
    while n < warmup or (time.perf_counter() - t_start < 0.1 and n < 200):
        model(x)
        n += 1
    times = []
    for _ in range(repeats):
        sync()
        t0 = time.perf_counter()
        model(x)
        sync()
        times.append((time.perf_counter() - t0) * 1000.0)
    model.train(was_training)
    return latency_of(times)


def peak_memory_mb(device: torch.device) -> float | None:
    """Peak allocated cuda memory since the last reset (MB); None on CPU (not measurable honestly)."""
    if device.type != "cuda":
        return None
    return torch.cuda.max_memory_allocated(device) / 2**20


def reset_peak_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def efficiency_metrics(
    model: torch.nn.Module,
    input_shape: tuple[int, int, int],
    device: torch.device,
    *,
    large_batch: int | None = 64,
    repeats: int = 20,
) -> dict[str, float]:
    """params, flops, latency_ms (batch 1) and latency_ms_b64 (throughput-style) on `device`."""
    out: dict[str, float] = {
        "params": float(count_params(model)),
        "flops": float(count_flops(model, input_shape)),
        "latency_ms": measure_latency_ms(model, input_shape, batch=1, device=device, repeats=repeats),
    }
    if large_batch:
        out[f"latency_ms_b{large_batch}"] = measure_latency_ms(
            model, input_shape, batch=large_batch, device=device, repeats=max(3, repeats // 4)
        )
    return out
