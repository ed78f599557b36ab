"""Deployment latency: a network's ONNX export timed in ONNX Runtime, as it would run where deployed.

The eager figures (metrics.py) time PyTorch; these time the exported file in an InferenceSession with
graph optimisations on (CPU provider; CUDA where the network trains on a GPU and this onnxruntime has the
CUDA provider). Intra-op threads follow the worker's torch thread count and are recorded (`ort_threads`).
"""

from __future__ import annotations

import math
import time
from types import ModuleType
from typing import Any

import numpy as np
import torch

from worker.nas.evaluation.export import onnx_bytes
from worker.nas.evaluation.latency_stat import latency_of

WARMUP_SECONDS = 0.1  # at least this long (and `warmup` calls) before timing: allocations, kernel picks
# Timed calls span at least this long too: 20 calls of a 0.3 ms network sample 6 ms of a shared machine, and
# two timings of one model differed by 9.5 % under load 5 on 2 cores (benchmarks/int8_fmnist.py).
MIN_TIMED_SECONDS = 0.2
MAX_CALLS = 2000
BATCH1_WINDOWS = 2  # windows of batch-1 timing, the lowest kept (batch1_latency_ms)


def require_onnxruntime() -> ModuleType:
    """onnxruntime, or a RuntimeError that says what needs it and how to go without."""
    try:
        import onnxruntime
    except ImportError as exc:
        raise RuntimeError(
            "deployment.ort_latency / deployment.int8 need onnxruntime, which this worker lacks: install "
            "the worker extra (pip install -e '.[worker]') or set deployment.ort_latency and "
            "deployment.int8 to false"
        ) from exc
    return onnxruntime


def providers(device: torch.device | str | None) -> list[str]:
    """CUDA first when the network is on a GPU and this onnxruntime can use it; always CPU."""
    ort = require_onnxruntime()
    dev = torch.device(device) if device is not None else torch.device("cpu")
    if dev.type == "cuda" and "CUDAExecutionProvider" in ort.get_available_providers():
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


def make_session(model: bytes, *, threads: int, device: torch.device | str | None = None) -> Any:
    ort = require_onnxruntime()
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3  # warnings about unused initialisers etc. are not the user's business
    return ort.InferenceSession(model, opts, providers=providers(device))


def session_latency_ms(
    session: Any,
    input_shape: tuple[int, ...],
    *,
    batch: int = 1,
    warmup: int = 5,
    repeats: int = 20,
    warmup_seconds: float = WARMUP_SECONDS,
    min_seconds: float = MIN_TIMED_SECONDS,
    record: list[float] | None = None,
) -> float:
    """Wall time (ms) of one `run` on a random batch (`latency_of`: a low quantile) after warm-up (at least
    `warmup_seconds`), over at least `repeats` calls and `min_seconds` (at most MAX_CALLS). Every timed
    call's ms is appended to `record` when given (benchmarks/latency_repeat.py compares statistics)."""
    if batch < 1 or repeats < 1:
        raise ValueError(f"batch and repeats must be >= 1 (got batch {batch}, repeats {repeats})")
    x = {
        session.get_inputs()[0].name: np.random.default_rng(0).standard_normal(
            (batch, *input_shape), np.float32
        )
    }
    t_start, n = time.perf_counter(), 0
    while n < warmup or (time.perf_counter() - t_start < warmup_seconds and n < 200):
        session.run(None, x)
        n += 1
    times: list[float] = []
    t_start = time.perf_counter()
    while len(times) < repeats or (time.perf_counter() - t_start < min_seconds and len(times) < MAX_CALLS):
        t0 = time.perf_counter()
        session.run(None, x)
        times.append((time.perf_counter() - t0) * 1000.0)
    if record is not None:
        record.extend(times)
    return latency_of(times)


def batch1_latency_ms(session: Any, input_shape: tuple[int, ...], *, repeats: int = 20) -> float:
    """The deployed batch-1 figure: the lower of BATCH1_WINDOWS timing windows. Load only adds time, and a
    burst can cover a whole 0.2-s window: one network measured 0.20 ms in a ViT search and 0.32 ms in the
    next, over that search's 0.25-ms bound (2-core EPYC, 2026-12-06)."""
    return batch1_latencies_ms([session], input_shape, repeats=repeats)[0]


def batch1_latencies_ms(
    sessions: list[Any], input_shape: tuple[int, ...], *, repeats: int = 20, windows: int = BATCH1_WINDOWS
) -> list[float]:
    """`batch1_latency_ms` of several sessions whose figures are compared (fp32 against int8), their windows
    taken in turn: a machine whose speed drifts over seconds (a 2-core AVX2 EPYC: a fixed matmul 1.3x its
    fastest in the median second of a minute) slows both sides alike, instead of whichever went second."""
    best = [math.inf] * len(sessions)
    for _ in range(windows):
        for i, session in enumerate(sessions):
            best[i] = min(best[i], session_latency_ms(session, input_shape, batch=1, repeats=repeats))
    return best


def ort_latency_metrics(
    model: torch.nn.Module,
    input_shape: tuple[int, int, int],
    *,
    batch: int,
    device: torch.device | str | None = None,
    threads: int | None = None,
    repeats: int = 20,
) -> dict[str, float]:
    """latency_ms_ort (batch 1, `batch1_latency_ms`), latency_ms_ort_b{batch}, ort_threads and ort_seconds
    (what it cost)."""
    t0 = time.perf_counter()
    threads = threads or torch.get_num_threads()
    session = make_session(onnx_bytes(model, input_shape), threads=threads, device=device)
    out = {"latency_ms_ort": batch1_latency_ms(session, input_shape, repeats=repeats)}
    out[f"latency_ms_ort_b{batch}"] = session_latency_ms(
        session, input_shape, batch=batch, repeats=max(3, repeats // 4)
    )
    out["ort_threads"] = float(threads)
    out["ort_seconds"] = time.perf_counter() - t0
    return out


def predict(session: Any, x: np.ndarray, batch: int = 256) -> np.ndarray:
    """Class predictions of `session` for `x` (N×C×H×W float32), in batches."""
    name = session.get_inputs()[0].name
    out = [session.run(None, {name: x[i : i + batch]})[0].argmax(1) for i in range(0, len(x), batch)]
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)
