"""Post-training int8 quantisation of an exported network in ONNX Runtime, with its test accuracy,
batch-1 latency and size beside the fp32 export's.

static (the default): QDQ format, int8 per-channel weights and uint8 activations whose ranges are
calibrated on a slice of the training split. uint8 activations, not int8: x86 multiplies u8 × s8 (VNNI's
VPDPBUSD); on this AVX512-VNNI CPU a 532k-parameter Fashion-MNIST CNN ran batch 1 in 0.12 ms with u8
activations, 0.38 ms with s8 and 0.26 ms in fp32. Without VNNI the u8 × s8 products can saturate 16-bit
sums, so weights keep 7 bits there (reduce_range). Batch norm is folded into the convolutions first.
dynamic: int8 weights, activation ranges found at run time. Measured on two `vit` networks (Fashion-MNIST,
one thread) static was also the better choice there: 0.64 vs 0.87 ms and 0.045 vs 0.062 ms at batch 1,
accuracy within 0.25 points of fp32 for both (both slower than fp32 on those small networks).
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
from worker.nas.evaluation.ort_latency import make_session, predict, require_onnxruntime, session_latency_ms

Method = Literal["static", "dynamic"]
CALIBRATION_BATCH = 64


@dataclass
class Int8Report:
    method: Method
    model: bytes  # the int8 ONNX file
    metrics: dict[str, float] = field(default_factory=dict)


def quantize(model: bytes, method: Method, calibration: np.ndarray | None = None) -> bytes:
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
                activation_type=QuantType.QUInt8,
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
) -> Int8Report:
    """Quantise `model`'s ONNX export and measure both on the CPU provider: int8_accuracy and
    ort_accuracy (the fp32 export's, same data), latency_ms_int8 and latency_ms_ort (fp32; batch 1, the same
    timing code), int8_speedup (their ratio), size_bytes_int8 and size_bytes_fp32, int8_seconds."""
    t0 = time.perf_counter()
    threads = threads or torch.get_num_threads()
    fp32 = onnx_bytes(model, input_shape)
    calib = np.asarray(x_calibration, dtype=np.float32)
    q = quantize(fp32, method, calib)
    x, y = np.asarray(x_test, dtype=np.float32), np.asarray(y_test)
    s_fp32 = make_session(fp32, threads=threads)
    s_int8 = make_session(q, threads=threads)
    lat_fp32 = session_latency_ms(s_fp32, input_shape, repeats=repeats)
    lat_int8 = session_latency_ms(s_int8, input_shape, repeats=repeats)
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
