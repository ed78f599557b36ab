"""Short check of the training path on a GPU (runs on CPU too): AMP training of a `layers` candidate on the
digits set, trainer vs plain-loop throughput, NaN and out-of-memory handling, latency, ONNX export.

    python benchmarks/gpu_check.py [--device cuda] [--out results.json] [--check]

Prints one JSON document; every figure in it is measured in this run. Takes well under 2 minutes.
Goals: the trainer trains at >= 0.95 x the plain loop's samples/s (the loop of trainer_throughput.py, which
picks its precision itself) at the same precision; the candidate trains; the NaN and out-of-memory networks
end as failed runs with a reason; the ONNX export gives the torch model's argmax. `--check` exits 1 when
any of these is missed; the JSON is printed either way.
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from trainer_throughput import GOAL, dtype_name, make_net, plain_dtype, plain_loop, trainer_loop  # noqa: E402

from worker.nas.evaluation.datasets import load_dataset  # noqa: E402
from worker.nas.evaluation.export import export_model  # noqa: E402
from worker.nas.evaluation.metrics import efficiency_metrics, peak_memory_mb, reset_peak_memory  # noqa: E402
from worker.nas.evaluation.trainer import TrainConfig, Trainer  # noqa: E402
from worker.nas.spaces.layers import LayersSpace  # noqa: E402
from worker.nas.spec import DatasetSpec  # noqa: E402
from worker.nas.types import TaskShape  # noqa: E402

GENOME = {
    "layers": [
        {"type": "conv", "filters": 32},
        {"type": "conv", "filters": 64, "stride": 2},
        {"type": "conv", "filters": 64},
        {"type": "dropout", "rate": 0.2},
        {"type": "dense", "units": 64},
    ]
}


class _Nan(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(64, 10)

    def forward(self, x):
        return self.lin(x.flatten(1)) * float("nan")


class _Oom(_Nan):
    def forward(self, x):
        # A real allocator failure: far more than any card holds (~1 TiB).
        torch.empty(2**40, dtype=torch.uint8, device=x.device)
        return super().forward(x)


def missed_goals(res: dict) -> list[str]:
    """The goals this run missed, in words (empty: all met)."""
    missed = []
    if res["candidate"]["status"] != "done":
        missed.append(f"candidate training: {res['candidate']['reason']}")
    tp = res["throughput"]
    if tp["ratio_trainer_over_plain"] < GOAL:
        missed.append(f"throughput ratio {tp['ratio_trainer_over_plain']} < {GOAL}")
    if tp["precision_trainer"] != [tp["precision_plain"]]:
        missed.append(f"precisions differ: plain {tp['precision_plain']}, trainer {tp['precision_trainer']}")
    for kind, (status, reason) in res["failures"].items():
        if status != "failed" or not reason:
            missed.append(f"{kind} network: {status} without a reason")
    if not res["onnx"].get("argmax_equal"):
        missed.append(f"onnx round trip: {res['onnx']}")
    return missed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--out", default=None, help="also write the JSON here")
    ap.add_argument("--check", action="store_true", help="exit 1 when a goal is missed")
    args = ap.parse_args()
    dev = torch.device(args.device)
    t_start = time.monotonic()
    res: dict = {
        "torch": torch.__version__,
        "device": args.device,
        "device_name": torch.cuda.get_device_name(dev)
        if dev.type == "cuda"
        else platform.processor() or "cpu",
    }

    # 1. A real candidate on real data, with AMP on cuda.
    data = load_dataset(DatasetSpec(name="digits"), seed=0)
    space = LayersSpace(task=TaskShape(data.input_shape, data.n_classes))
    torch.manual_seed(0)
    model = space.build(space.validate(GENOME))
    reset_peak_memory(dev)
    epochs = 15 if dev.type == "cuda" else 4  # the CPU run only checks that the path works
    trainer = Trainer(model, TrainConfig(epochs=epochs, batch_size=128, lr=1e-2), n_classes=10, device=dev)
    run = trainer.fit(data.x_train, data.y_train, data.x_val, data.y_val)
    test = trainer.evaluate(data.x_test, data.y_test)
    res["candidate"] = {
        "status": run.status,
        "reason": run.reason,
        "amp_dtype": str(trainer.amp_dtype),
        "epochs": run.epochs_done,
        "train_seconds": round(run.seconds, 3),
        "val_accuracy": round(run.metrics.get("val_accuracy", float("nan")), 4),
        "test_accuracy": round(test["accuracy"], 4),
        "peak_memory_mb": peak_memory_mb(dev),
        **{k: round(v, 4) for k, v in efficiency_metrics(trainer.model, data.input_shape, dev).items()},
    }

    # 2. Throughput of the trainer against a plain loop (same net, data, precision), median of 5.
    g = torch.Generator().manual_seed(0)
    n = 50_000 if dev.type == "cuda" else 1_024
    x = torch.randn(n, 1, 28, 28, generator=g)
    y = torch.randint(0, 10, (n,), generator=g)
    base = make_net(1, 10)
    picked: list[str] = []
    trainer_loop(copy.deepcopy(base), x[:2048], y[:2048], 1, 256, 3e-3, args.device)  # warm-up
    plain_loop(copy.deepcopy(base), x[:2048], y[:2048], 1, 256, 3e-3, args.device)
    plain, ours = [], []
    for _ in range(5):
        plain.append(plain_loop(copy.deepcopy(base), x, y, 2, 256, 3e-3, args.device))
        ours.append(trainer_loop(copy.deepcopy(base), x, y, 2, 256, 3e-3, args.device, picked=picked))
    res["seconds_so_far"] = round(time.monotonic() - t_start, 1)
    res["throughput"] = {
        "samples": n,
        "batch_size": 256,
        "epochs": 2,
        "precision_plain": dtype_name(plain_dtype(args.device)),
        "precision_trainer": sorted(set(picked)),
        "plain_samples_per_s": [round(v) for v in plain],
        "trainer_samples_per_s": [round(v) for v in ours],
        "ratio_trainer_over_plain": round(float(np.median(ours) / np.median(plain)), 3),
    }

    # 3. Failures become reasons, not crashes.
    nan = Trainer(_Nan(), TrainConfig(epochs=1), n_classes=10, device=dev).fit(data.x_train, data.y_train)
    oom = Trainer(_Oom(), TrainConfig(epochs=1), n_classes=10, device=dev).fit(data.x_train, data.y_train)
    res["failures"] = {"nan": [nan.status, nan.reason], "oom": [oom.status, oom.reason]}

    # 4. ONNX export of the trained candidate and an onnxruntime round trip.
    try:
        import onnxruntime as ort

        with tempfile.TemporaryDirectory() as tmp:
            paths = export_model(trainer.model, tmp, input_shape=data.input_shape, card={"genome": GENOME})
            xb = data.x_test[:256]
            onnx_out = ort.InferenceSession(paths["onnx"]).run(None, {"input": xb.numpy()})[0]
            with torch.no_grad():
                ref = trainer.model.float().eval()(xb).numpy()
            res["onnx"] = {
                "argmax_equal": bool((onnx_out.argmax(1) == ref.argmax(1)).all()),
                "max_abs_diff": float(np.abs(onnx_out - ref).max()),
            }
    except Exception as exc:  # noqa: BLE001 - report, keep the other figures
        res["onnx"] = {"error": f"{type(exc).__name__}: {exc}"}
    res["wall_seconds"] = round(time.monotonic() - t_start, 1)
    res["missed_goals"] = missed_goals(res)
    text = json.dumps(res, indent=2, default=str)
    print(text)
    if args.out:
        Path(args.out).write_text(text)
    return 1 if args.check and res["missed_goals"] else 0


if __name__ == "__main__":
    sys.exit(main())
