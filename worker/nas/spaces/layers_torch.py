"""PyTorch builder of a normalised `layers` genome (imported lazily: only training needs torch)."""

from __future__ import annotations

from typing import Any

from torch import nn

from worker.nas.types import TaskShape

ACTIVATION_MODULES: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "elu": nn.ELU,
    "tanh": nn.Tanh,
}


def _conv(layer: dict[str, Any], c: int) -> list[nn.Module]:
    f, k, s, bn = layer["filters"], layer["kernel"], layer["stride"], layer["batch_norm"]
    pad = k // 2  # odd kernels: 'same' size at stride 1, ceil(H / 2) at stride 2
    if layer["separable"]:
        # Depthwise (carries the stride) then pointwise; one norm/activation after the pair, as in
        # MobileNet-style blocks kept small.
        mods: list[nn.Module] = [
            nn.Conv2d(c, c, k, stride=s, padding=pad, groups=c, bias=False),
            nn.Conv2d(c, f, 1, bias=not bn),
        ]
    else:
        mods = [nn.Conv2d(c, f, k, stride=s, padding=pad, bias=not bn)]
    if bn:
        mods.append(nn.BatchNorm2d(f))
    mods.append(ACTIVATION_MODULES[layer["activation"]]())
    return mods


def build_model(layers: list[dict[str, Any]], task: TaskShape, head: str) -> nn.Sequential:
    """conv/pool/dropout layers, head (global average pool or flatten), dense layers, Linear to classes."""
    c, h, w = task.input_shape
    mods: list[nn.Module] = []
    features: int | None = None
    for layer in layers:
        kind = layer["type"]
        if kind == "dense" and features is None:
            features = _append_head(mods, head, c, h, w)
        if kind == "conv":
            mods += _conv(layer, c)
            c, s = layer["filters"], layer["stride"]
            h, w = -(-h // s), -(-w // s)
        elif kind == "pool":
            pool = nn.MaxPool2d if layer["kind"] == "max" else nn.AvgPool2d
            mods.append(pool(2, 2, ceil_mode=True))  # ceil: odd sizes keep their last row/column
            h, w = -(-h // 2), -(-w // 2)
        elif kind == "dropout":
            mods.append(nn.Dropout(layer["rate"]))
        else:
            mods += [nn.Linear(features, layer["units"]), ACTIVATION_MODULES[layer["activation"]]()]
            features = layer["units"]
    if features is None:
        features = _append_head(mods, head, c, h, w)
    mods.append(nn.Linear(features, task.n_classes))
    return nn.Sequential(*mods)


def _append_head(mods: list[nn.Module], head: str, c: int, h: int, w: int) -> int:
    if head == "gap":
        mods += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        return c
    mods.append(nn.Flatten())
    return c * h * w
