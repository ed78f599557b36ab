"""Post-training int8 quantisation of an exported network in ONNX Runtime, with its test accuracy,
batch-1 latency and size beside the fp32 export's.

static (the default): QDQ format, int8 per-channel weights and uint8 activations whose ranges are
calibrated on a slice of the training split. uint8 activations, not int8: x86 multiplies u8 × s8 (VNNI's
VPDPBUSD), and with s8 activations ORT on this AVX512-VNNI CPU ran a 532k-parameter Fashion-MNIST CNN
slower than fp32 (`benchmarks/int8_fmnist.py --activations s8`; figures in docs/benchmarks.md). Without
VNNI the u8 × s8 products can saturate 16-bit sums, so weights keep 7 bits there (reduce_range). Batch
norm is folded into the convolutions first.
dynamic: int8 weights, activation ranges found at run time. On two `vit` networks static was as good or
better (benchmarks/int8_vit_methods.py: batch 1 0.58 vs 0.75 ms for 301k params, 0.045 ms both for 14k;
accuracy within 0.25 points of fp32 either way), so it is the default there too.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from worker.nas.evaluation.cpu_features import cpu_features
from worker.nas.evaluation.export import onnx_bytes
from worker.nas.evaluation.ort_latency import batch1_latencies_ms, make_session, predict, require_onnxruntime

Method = Literal["static", "dynamic"]
Activations = Literal["u8", "s8"]  # static activations; s8 only to measure why u8 is the choice
CALIBRATION_BATCH = 64
# fp32 and int8 windows taken in turn, the lowest of each kept: their ratio is the figure users read, and on a
# drifting machine one window each, one after the other, gave 1.19x and 1.54x for the same models in two runs
# (AVX2 EPYC, 2026-12-07; 1.45x and 1.47x in turn).
INT8_WINDOWS = 4


@dataclass
class Int8Report:
    method: Method
    model: bytes  # the int8 ONNX file
    metrics: dict[str, float] = field(default_factory=dict)


def quantize(
    model: bytes, method: Method, calibration: np.ndarray | None = None, activations: Activations = "u8"
) -> bytes:
    """The int8 version of the ONNX `model`. `calibration` (N×C×H×W float32, normalised as the model
    expects) is required for static quantisation."""
    require_onnxruntime()
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_dynamic,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if method == "static" and (calibration is None or len(calibration) == 0):
        raise ValueError("static int8 quantisation needs calibration images (deployment.calibration_samples)")

    class Batches(CalibrationDataReader):
        def __init__(self, x: np.ndarray) -> None:
            self.it: Iterator[dict[str, np.ndarray]] = (
                {"input": x[i : i + CALIBRATION_BATCH]} for i in range(0, len(x), CALIBRATION_BATCH)
            )

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.it, None)

    with tempfile.TemporaryDirectory(prefix="nasboard-int8-") as tmp:
        src, pre, out = Path(tmp, "fp32.onnx"), Path(tmp, "pre.onnx"), Path(tmp, "int8.onnx")
        src.write_bytes(model)
        quant_pre_process(str(src), str(pre))  # shape inference + BN folding, so quantised convs stay fused
        if method == "static":
            quantize_static(
                str(pre),
                str(out),
                Batches(np.ascontiguousarray(calibration, dtype=np.float32)),
                quant_format=QuantFormat.QDQ,
                per_channel=True,
                reduce_range=cpu_features()["int8_units"] is False,
                activation_type=QuantType.QUInt8 if activations == "u8" else QuantType.QInt8,
                weight_type=QuantType.QInt8,
            )
        else:
            quantize_dynamic(str(pre), str(out), weight_type=QuantType.QInt8, per_channel=True)
        return out.read_bytes()


def int8_report(
    model: torch.nn.Module,
    input_shape: tuple[int, int, int],
    x_calibration: torch.Tensor | np.ndarray,
    x_test: torch.Tensor | np.ndarray,
    y_test: torch.Tensor | np.ndarray,
    *,
    method: Method = "static",
    threads: int | None = None,
    repeats: int = 20,
    activations: Activations = "u8",
) -> Int8Report:
    """Quantise `model`'s ONNX export and measure both on the CPU provider: int8_accuracy and
    ort_accuracy (the fp32 export's, same data), latency_ms_int8 and latency_ms_ort (fp32; batch 1, their
    timing windows in turn), int8_speedup (their ratio), size_bytes_int8 and size_bytes_fp32, int8_seconds."""
    t0 = time.perf_counter()
    threads = threads or torch.get_num_threads()
    fp32 = onnx_bytes(model, input_shape)
    calib = np.asarray(x_calibration, dtype=np.float32)
    q = quantize(fp32, method, calib, activations)
    x, y = np.asarray(x_test, dtype=np.float32), np.asarray(y_test)
    s_fp32 = make_session(fp32, threads=threads)
    s_int8 = make_session(q, threads=threads)
    lat_fp32, lat_int8 = batch1_latencies_ms(
        [s_fp32, s_int8], input_shape, repeats=repeats, windows=INT8_WINDOWS
    )
    metrics = {
        "int8_accuracy": float((predict(s_int8, x) == y).mean()) if len(y) else float("nan"),
        "ort_accuracy": float((predict(s_fp32, x) == y).mean()) if len(y) else float("nan"),
        "latency_ms_int8": lat_int8,
        "latency_ms_ort": lat_fp32,
        "int8_speedup": lat_fp32 / lat_int8,
        "size_bytes_int8": float(len(q)),
        "size_bytes_fp32": float(len(fp32)),
        "int8_threads": float(threads),
        "int8_seconds": time.perf_counter() - t0,
    }
    return Int8Report(method, q, metrics)
