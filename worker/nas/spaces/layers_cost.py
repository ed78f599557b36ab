"""Shapes, parameters and FLOPs of a normalised `layers` genome in closed form (no torch, microseconds).

The network is: the genome's conv/pool/dropout layers, the head (global average pool or flatten), the
genome's dense/dropout layers, and a final Linear to the classes. Counts follow the builder exactly
(layers_torch.py) and FLOPs follow torch's FlopCounterMode convention (2 x multiply-accumulates of
convolutions and linear layers, per input sample); tests check both against the built model.
"""

from __future__ import annotations

import math
from typing import Any

from worker.nas.spaces.steps import Step
from worker.nas.types import TaskShape

Layer = dict[str, Any]


def layer_label(layer: Layer) -> str:
    """Short token per layer: C32 (conv), SC32 (separable), /2 stride 2, k5 kernel 5, P/AP, Dr0.2, D64."""
    kind = layer["type"]
    if kind == "conv":
        text = ("SC" if layer["separable"] else "C") + str(layer["filters"])
        if layer["kernel"] != 3:
            text += f"k{layer['kernel']}"
        return text + ("/2" if layer["stride"] == 2 else "")
    if kind == "pool":
        return "P" if layer["kind"] == "max" else "AP"
    if kind == "dropout":
        return f"Dr{layer['rate']:g}"
    return f"D{layer['units']}"


def _conv(layer: Layer, c: int, h: int, w: int) -> tuple[tuple[int, int, int], int, int]:
    f, k, s = layer["filters"], layer["kernel"], layer["stride"]
    ho, wo = math.ceil(h / s), math.ceil(w / s)
    norm = 2 * f if layer["batch_norm"] else f  # BatchNorm's affine pair replaces the conv bias
    if layer["separable"]:
        params = c * k * k + c * f + norm
        flops = 2 * ho * wo * (c * k * k + c * f)
    else:
        params = c * f * k * k + norm
        flops = 2 * ho * wo * c * f * k * k
    return (f, ho, wo), params, flops


def trace(layers: list[Layer], task: TaskShape, head: str) -> list[Step]:
    """Every step of the network with its output shape, parameters and FLOPs."""
    c, h, w = task.input_shape
    steps = [Step("input", "input", f"input {c}x{h}x{w}", (c, h, w))]
    features: int | None = None  # set once the head has flattened the map
    for i, layer in enumerate(layers):
        kind, sid, label = layer["type"], f"L{i}", layer_label(layer)
        if kind == "dense" and features is None:
            features = _head(steps, head, c, h, w)
        if kind == "conv":
            (c, h, w), params, flops = _conv(layer, c, h, w)
            steps.append(Step(sid, kind, label, (c, h, w), params, flops))
        elif kind == "pool":
            h, w = math.ceil(h / 2), math.ceil(w / 2)
            steps.append(Step(sid, kind, label, (c, h, w)))
        elif kind == "dropout":
            steps.append(Step(sid, kind, label, (c, h, w) if features is None else (features,)))
        else:
            n, features = features, layer["units"]
            steps.append(Step(sid, kind, label, (features,), n * features + features, 2 * n * features))
    if features is None:
        features = _head(steps, head, c, h, w)
    k = task.n_classes
    steps.append(Step("output", "linear", f"Linear {k}", (k,), features * k + k, 2 * features * k))
    return steps


def _head(steps: list[Step], head: str, c: int, h: int, w: int) -> int:
    features = c if head == "gap" else c * h * w
    label = "GlobalAvgPool" if head == "gap" else "Flatten"
    steps.append(Step("head", head, label, (features,)))
    return features
