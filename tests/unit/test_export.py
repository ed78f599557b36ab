from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

from worker.nas.evaluation.datasets import load_dataset
from worker.nas.evaluation.export import export_model
from worker.nas.evaluation.trainer import TrainConfig, Trainer
from worker.nas.spec import DatasetSpec


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # shared cores: one thread keeps the test quick under load
    data = load_dataset(DatasetSpec(name="digits"), seed=0)
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 16, 3, padding=1),
        torch.nn.BatchNorm2d(16),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Dropout(0.2),
        torch.nn.Flatten(),
        torch.nn.Linear(16 * 16, 10),
    )
    Trainer(net, TrainConfig(epochs=2), n_classes=10, device="cpu").fit(data.x_train, data.y_train)
    out = tmp_path_factory.mktemp("export")
    paths = export_model(
        net, out, input_shape=data.input_shape, card={"genome": {"g": 1}, "dataset": data.card()}
    )
    yield net.eval(), data, paths
    torch.set_num_threads(threads)


def test_onnx_runtime_reproduces_torch_predictions(trained):
    net, data, paths = trained
    x = data.x_test[:200].numpy()
    onnx_out = ort.InferenceSession(paths["onnx"]).run(None, {"input": x})[0]
    with torch.no_grad():
        torch_out = net(data.x_test[:200]).numpy()
    assert onnx_out.shape == (200, 10)  # dynamic batch axis: exported with batch 2, run with 200
    assert (onnx_out.argmax(1) == torch_out.argmax(1)).all()
    assert np.abs(onnx_out - torch_out).max() < 1e-4


def test_torchscript_and_state_dict_reload_to_same_outputs(trained):
    net, data, paths = trained
    x = data.x_test[:50]
    with torch.no_grad():
        ref = net(x)
        assert torch.allclose(torch.jit.load(paths["torchscript"])(x), ref, atol=1e-5)
    state = torch.load(paths["state_dict"], weights_only=True)
    clone = torch.nn.Sequential(
        torch.nn.Conv2d(1, 16, 3, padding=1),
        torch.nn.BatchNorm2d(16),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Dropout(0.2),
        torch.nn.Flatten(),
        torch.nn.Linear(16 * 16, 10),
    )
    clone.load_state_dict(state)
    with torch.no_grad():
        assert torch.allclose(clone.eval()(x), ref)


def test_card_says_how_to_load_and_what_input_means(trained):
    _, data, paths = trained
    card = json.loads(Path(paths["card"]).read_text())
    assert card["genome"] == {"g": 1} and card["input_shape"] == [1, 8, 8]
    assert card["dataset"]["normalisation"]["mean"] == data.mean
    assert set(card["files"]) == {"state_dict", "torchscript", "onnx"}
    assert "onnxruntime" in card["how_to_load"]


def test_following_the_card_from_the_shipped_digits_reproduces_the_models_predictions(trained):
    # The card must be exactly what reproduces the reported accuracy from the data as users hold it: for
    # digits that is scikit-learn's 0-16 images, not x / 255.
    from sklearn.datasets import load_digits

    net, data, paths = trained
    norm = json.loads(Path(paths["card"]).read_text())["dataset"]["normalisation"]
    digits = load_digits()
    x = digits.images[:, None].astype(np.float32)
    mean = np.array(norm["mean"], dtype=np.float32)[None, :, None, None]
    std = np.array(norm["std"], dtype=np.float32)[None, :, None, None]
    card_input = ((x / norm["divide_by"] - mean) / std).astype(np.float32)
    onnx_pred = ort.InferenceSession(paths["onnx"]).run(None, {"input": card_input})[0].argmax(1)
    with torch.no_grad():
        ours = torch.cat([data.x_train, data.x_val, data.x_test])
        labels = torch.cat([data.y_train, data.y_val, data.y_test]).numpy()
        reported = (net(ours).argmax(1).numpy() == labels).mean()
    followed = (onnx_pred == digits.target).mean()
    assert reported > 0.5 and abs(followed - reported) < 0.005, (followed, reported)
