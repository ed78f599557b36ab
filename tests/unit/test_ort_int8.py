"""Deployment figures: ONNX Runtime latency of candidates, int8 quantisation of the best, and the spec's
deployment section (objectives, constraints, the final stage's int8 files)."""

from __future__ import annotations

import builtins
import json
from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from worker.nas.evaluation import ort_latency
from worker.nas.evaluation.datasets import load_dataset
from worker.nas.evaluation.int8 import int8_report, quantize
from worker.nas.evaluation.latency_stat import latency_of
from worker.nas.evaluation.ort_latency import (
    make_session,
    ort_latency_metrics,
    predict,
    require_onnxruntime,
    session_latency_ms,
)
from worker.nas.evaluation.trainer import TrainConfig, Trainer
from worker.nas.objectives import Objective
from worker.nas.runner import run_local_search
from worker.nas.sink import MemorySink
from worker.nas.spec import DatasetSpec, parse_spec


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # shared cores: one thread keeps these tests quick under load
    yield
    torch.set_num_threads(before)


def small_cnn() -> torch.nn.Module:
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 16, 3, padding=1),
        torch.nn.BatchNorm2d(16),
        torch.nn.ReLU(),
        torch.nn.Conv2d(16, 32, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(32 * 4 * 4, 10),
    )


@pytest.fixture(scope="module")
def digits_net():
    torch.set_num_threads(1)
    data = load_dataset(DatasetSpec(name="digits"), seed=0)
    torch.manual_seed(0)
    net = small_cnn()
    Trainer(net, TrainConfig(epochs=6, lr=0.01, batch_size=64), n_classes=10, device="cpu").fit(
        data.x_train, data.y_train
    )
    return net.eval(), data


# --- ONNX Runtime timing ---------------------------------------------------------------------------------
def test_ort_latency_reports_batch_one_and_the_spec_batch_with_its_threads():
    net = small_cnn().eval()
    m = ort_latency_metrics(net, (1, 8, 8), batch=16, threads=1, repeats=3)
    assert set(m) == {"latency_ms_ort", "latency_ms_ort_b16", "ort_threads", "ort_seconds"}
    assert m["ort_threads"] == 1.0
    assert m["latency_ms_ort"] > 0 and m["latency_ms_ort_b16"] > 0 and m["ort_seconds"] > 0
    assert net.training is False  # the export leaves the module as it found it


def test_timing_feeds_the_requested_batch_records_the_timed_calls_and_refuses_an_empty_batch():
    class Recorder:
        def __init__(self) -> None:
            self.shapes: list[tuple[int, ...]] = []

        def get_inputs(self):
            return [type("I", (), {"name": "input"})()]

        def run(self, _outputs, feed):
            self.shapes.append(feed["input"].shape)
            return [np.zeros((feed["input"].shape[0], 10), np.float32)]

    rec, timed = Recorder(), []
    figure = session_latency_ms(rec, (1, 8, 8), batch=7, warmup=1, repeats=4, record=timed)
    assert set(rec.shapes) == {(7, 1, 8, 8)} and len(rec.shapes) >= 5  # warm-up + at least 4 timed
    assert len(timed) >= 4 and figure == latency_of(timed)  # the figure is read off exactly the timed calls
    with pytest.raises(ValueError, match="batch and repeats must be >= 1"):
        session_latency_ms(rec, (1, 8, 8), batch=0)


def test_compared_sessions_take_their_timing_windows_in_turn_and_keep_their_lowest(monkeypatch):
    # A machine that slows down window after window: timed one after the other, the second session would
    # read 1.6x slow; in turn, both keep a window from the same fast start.
    calls: list[str] = []

    def drifting(session, input_shape, *, batch, repeats):
        calls.append(session)
        return {"fp32": 1.0, "int8": 0.5}[session] * (1 + 0.2 * len(calls))

    monkeypatch.setattr(ort_latency, "session_latency_ms", drifting)
    fp32, int8 = ort_latency.batch1_latencies_ms(["fp32", "int8"], (1, 8, 8), windows=3)
    assert calls == ["fp32", "int8"] * 3
    assert (fp32, int8) == pytest.approx((1.2, 0.7))
    calls.clear()
    assert ort_latency.batch1_latency_ms("fp32", (1, 8, 8)) == pytest.approx(1.2)  # the same rule alone
    assert calls == ["fp32"] * ort_latency.BATCH1_WINDOWS


def test_predict_covers_every_sample_across_batches(digits_net):
    net, data = digits_net
    from worker.nas.evaluation.export import onnx_bytes

    session = make_session(onnx_bytes(net, data.input_shape), threads=1)
    pred = predict(session, data.x_test.numpy(), batch=100)  # 360 images: a short last batch
    with torch.no_grad():
        assert (pred == net(data.x_test).argmax(1).numpy()).all()


def test_missing_onnxruntime_says_what_needs_it_and_how_to_go_without(monkeypatch):
    real_import = builtins.__import__

    def no_ort(name, *args, **kwargs):
        if name == "onnxruntime" or name.startswith("onnxruntime."):
            raise ImportError("No module named 'onnxruntime'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ort)
    with pytest.raises(RuntimeError, match="lacks.*deployment.ort_latency and deployment.int8 to false"):
        require_onnxruntime()
    with pytest.raises(RuntimeError, match="onnxruntime"):
        ort_latency.providers("cpu")


# --- int8 ------------------------------------------------------------------------------------------------
def test_static_int8_keeps_digits_accuracy_near_fp32_and_shrinks_the_file(digits_net):
    net, data = digits_net
    rep = int8_report(
        net, data.input_shape, data.x_train[:256], data.x_test, data.y_test, threads=1, repeats=5
    )
    m = rep.metrics
    assert m["ort_accuracy"] > 0.9  # a trained network (chance 0.1)
    assert abs(m["ort_accuracy"] - m["int8_accuracy"]) <= 0.02  # 7 of 360 test images
    assert m["size_bytes_int8"] < m["size_bytes_fp32"]
    assert m["int8_speedup"] == pytest.approx(m["latency_ms_ort"] / m["latency_ms_int8"])
    ops = Counter(n.op_type for n in onnx.load_from_string(rep.model).graph.node)
    assert ops["QuantizeLinear"] > 0 and ops["DequantizeLinear"] > 0  # QDQ: the graph really is int8
    weights = [
        i for i in onnx.load_from_string(rep.model).graph.initializer if i.data_type == onnx.TensorProto.INT8
    ]
    assert weights, "no int8 weights"


def test_static_quantisation_needs_calibration_images(digits_net):
    net, data = digits_net
    from worker.nas.evaluation.export import onnx_bytes

    with pytest.raises(ValueError, match="calibration"):
        quantize(onnx_bytes(net, data.input_shape), "static", np.zeros((0, 1, 8, 8), np.float32))


# --- spec: objectives and constraints --------------------------------------------------------------------
def test_ort_latencies_are_minimised_objectives_at_the_measured_batch():
    spec = parse_spec({"objectives": [{"metric": "val_accuracy"}, {"metric": "latency_ms_ort_b64"}]})
    assert spec.objectives[1].goal == "minimize"
    spec = parse_spec({"objectives": [{"metric": "latency_ms_ort"}], "deployment": {"batch": 32}})
    assert spec.objectives[0].goal == "minimize"
    parse_spec({"objectives": [{"metric": "latency_ms_ort_b32"}], "deployment": {"batch": 32}})
    with pytest.raises(ValueError, match="objectives.0.metric: latency_ms_ort_b32 is not measured.*b64"):
        parse_spec({"objectives": [{"metric": "latency_ms_ort_b32"}]})
    with pytest.raises(ValueError, match="objectives.0.metric: .*only with deployment.ort_latency: true"):
        parse_spec({"objectives": [{"metric": "latency_ms_ort"}], "deployment": {"ort_latency": False}})
    with pytest.raises(ValueError, match="deployment.batch\n.*48 is not one of 8, 16, 32, 64, 128, 256"):
        parse_spec({"deployment": {"batch": 48}})


def test_max_latency_ms_ort_is_a_hard_constraint_on_the_measured_figure():
    spec = parse_spec({"constraints": {"max_latency_ms_ort": 0.5}})
    obj = Objective.from_spec(spec)
    assert obj.fitness({"val_accuracy": 0.9, "latency_ms_ort": 0.4}) == pytest.approx(0.9)
    assert obj.fitness({"val_accuracy": 0.9, "latency_ms_ort": 0.6}) is None
    assert (
        obj.violation({"val_accuracy": 0.9})
        == "latency_ms_ort not measured, so max_latency_ms_ort 0.5 cannot be checked"
    )
    with pytest.raises(ValueError, match="constraints.max_latency_ms_ort: .*deployment.ort_latency: true"):
        parse_spec({"constraints": {"max_latency_ms_ort": 0.5}, "deployment": {"ort_latency": False}})


# --- through a whole (local) search: candidates and the final stage --------------------------------------
def digits_spec(objectives=("val_accuracy", "latency_ms_ort_b16"), **deployment):
    return parse_spec(
        {
            "name": "digits-int8",
            "space": {
                "type": "layers",
                "max_depth": 3,
                "filters": [16],
                "dense_units": [32],
                "head": "flatten",
            },
            "strategy": {"type": "random"},
            "dataset": {"name": "digits"},
            "training": {"epochs": 5, "batch_size": 64, "lr": 0.01, "zero_cost_proxies": False},
            "objectives": [{"metric": m} for m in objectives],
            "budget": {"max_candidates": 2},
            "final": {"top_k": 1, "epochs": 5},
            "deployment": {"batch": 16, "calibration_samples": 128, **deployment},
            "seed": 0,
        }
    )


def test_search_times_candidates_in_ort_and_the_final_exports_the_int8_model_with_its_card(tmp_path):
    sink = MemorySink()
    summary = run_local_search(digits_spec(), sink, artefact_dir=tmp_path)
    for c in sink.candidates.values():
        assert c["result"].metrics["latency_ms_ort"] > 0 and c["result"].metrics["latency_ms_ort_b16"] > 0
    best, files = summary["best"], summary["artefacts"]
    assert {"onnx_int8", "card_int8", "onnx", "card"} <= set(files)
    assert best["int8_method"] == "static" and best["int8_units"] in (True, False, None)
    assert "int8 units" in best["cpu_features"]
    card = json.loads(Path(files["card_int8"]).read_text())
    assert card["precision"] == "int8" and card["files"] == {"onnx": Path(files["onnx_int8"]).name}
    assert card["metrics"]["int8_accuracy"] == best["int8_accuracy"]
    assert (
        card["dataset"]["normalisation"]
        == json.loads(Path(files["card"]).read_text())["dataset"]["normalisation"]
    )
    # The file handed out is the one measured: its test accuracy is the reported one.
    data = load_dataset(DatasetSpec(name="digits"), seed=0)
    session = make_session(Path(files["onnx_int8"]).read_bytes(), threads=1)
    assert (
        float((predict(session, data.x_test.numpy()) == data.y_test.numpy()).mean()) == best["int8_accuracy"]
    )
    assert abs(best["int8_accuracy"] - best["ort_accuracy"]) <= 0.03


def test_deployment_switched_off_measures_and_exports_nothing_of_it(tmp_path):
    spec = digits_spec(("val_accuracy",), ort_latency=False, int8=False)
    sink = MemorySink()
    summary = run_local_search(spec, sink, artefact_dir=tmp_path)
    assert all("latency_ms_ort" not in c["result"].metrics for c in sink.candidates.values())
    assert not {"latency_ms_ort", "int8_accuracy", "cpu_features"} & set(summary["best"])
    assert not {"onnx_int8", "card_int8"} & set(summary["artefacts"])
