"""The NAS-Bench-201 network in PyTorch (kept apart so the space itself loads without torch)."""

from __future__ import annotations

import torch
from torch import nn

from worker.nas.types import TaskShape

EDGES = tuple((t, s) for t in range(1, 4) for s in range(t))


def relu_conv_bn(c_in: int, c_out: int, kernel: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.ReLU(inplace=False),
        nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False),
        nn.BatchNorm2d(c_out),
    )


def edge_op(op: str, channels: int) -> nn.Module:
    if op == "skip_connect":
        return nn.Identity()
    if op == "nor_conv_1x1":
        return relu_conv_bn(channels, channels, 1)
    if op == "nor_conv_3x3":
        return relu_conv_bn(channels, channels, 3)
    if op == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    raise ValueError(f"op: no module for {op!r}")


class Cell(nn.Module):
    """4-node DAG; node t sums its incoming edges. `none` edges are left out (they add zero)."""

    def __init__(self, ops: tuple[str, ...], channels: int) -> None:
        super().__init__()
        self.wiring = [(t, s) for (t, s), op in zip(EDGES, ops, strict=True) if op != "none"]
        self.edges = nn.ModuleList(edge_op(op, channels) for op in ops if op != "none")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes: list[torch.Tensor | None] = [x, None, None, None]
        for (target, source), module in zip(self.wiring, self.edges, strict=True):
            inp = nodes[source]
            if inp is None:  # a zero node feeds zero through every op
                continue
            out = module(inp)
            nodes[target] = out if nodes[target] is None else nodes[target] + out
        return nodes[3] if nodes[3] is not None else torch.zeros_like(x)


class ResidualReduction(nn.Module):
    """The benchmark's stride-2 residual block between stages (ceil pooling keeps odd sizes aligned)."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv_a = relu_conv_bn(c_in, c_out, 3, stride=2)
        self.conv_b = relu_conv_bn(c_out, c_out, 3)
        self.shortcut = nn.Sequential(
            nn.AvgPool2d(2, stride=2, ceil_mode=True), nn.Conv2d(c_in, c_out, 1, bias=False)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shortcut(x) + self.conv_b(self.conv_a(x))


class NB201Network(nn.Module):
    def __init__(self, ops: tuple[str, ...], C: int, N: int, task: TaskShape) -> None:
        super().__init__()
        c_in = task.input_shape[0]
        self.stem = nn.Sequential(nn.Conv2d(c_in, C, 3, padding=1, bias=False), nn.BatchNorm2d(C))
        layers: list[nn.Module] = []
        for stage in range(3):
            width = C * 2**stage
            if stage:
                layers.append(ResidualReduction(width // 2, width))
            layers.extend(Cell(ops, width) for _ in range(N))
        self.cells = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.BatchNorm2d(4 * C), nn.ReLU(inplace=False), nn.AdaptiveAvgPool2d(1))
        self.classifier = nn.Linear(4 * C, task.n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.head(self.cells(self.stem(x))).flatten(1))
