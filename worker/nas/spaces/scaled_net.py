"""The scaled network in PyTorch: resize the input, then the base space's network (torch only here)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ResizedNet(nn.Module):
    """Bilinear resize to (h, w) first, so a resolution multiplier needs no change to the data pipeline.

    Interpolation is not counted as FLOPs (FlopCounterMode convention), like pooling.
    """

    def __init__(self, size: tuple[int, int], net: nn.Module) -> None:
        super().__init__()
        self.size = size
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[-2:]) != self.size:
            x = F.interpolate(x, size=self.size, mode="bilinear", align_corners=False)
        return self.net(x)
