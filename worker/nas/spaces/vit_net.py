"""The `vit` network in PyTorch (kept apart so the space itself loads without torch).

Attention is written out as two matrix products rather than `scaled_dot_product_attention`: torch's
FlopCounterMode does not count the fused CPU kernel, and the measured FLOPs must match the closed form.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from worker.nas.types import Genome, TaskShape


class Stem(nn.Module):
    """Optional 3x3 conv (hybrid stem), zero-padding to a multiple of the patch, then patch embedding."""

    def __init__(self, stem: dict[str, Any], c_in: int, dim: int) -> None:
        super().__init__()
        self.patch = stem["patch"]
        self.conv: nn.Module = nn.Identity()
        if stem["type"] == "conv":
            ch = stem["channels"]
            self.conv = nn.Sequential(
                nn.Conv2d(c_in, ch, 3, padding=1, bias=False), nn.BatchNorm2d(ch), nn.GELU()
            )
            c_in = ch
        self.embed = nn.Conv2d(c_in, dim, self.patch, stride=self.patch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        pad_h, pad_w = -x.shape[-2] % self.patch, -x.shape[-1] % self.patch
        if pad_h or pad_w:  # right and bottom, so every pixel falls in exactly one patch
            x = F.pad(x, (0, pad_w, 0, pad_h))
        return self.embed(x).flatten(2).transpose(1, 2)  # (B, tokens, dim)


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads, self.scale = heads, (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(x).reshape(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        weights = ((q * self.scale) @ k.transpose(-2, -1)).softmax(dim=-1)
        return self.proj((weights @ v).transpose(1, 2).reshape(b, t, d))


class TokenMLP(nn.Module):
    """MLP-Mixer style token mixing: one MLP across the token axis, shared by every channel."""

    def __init__(self, tokens: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(tokens, tokens), nn.GELU(), nn.Linear(tokens, tokens))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp(x.transpose(1, 2)).transpose(1, 2)


class Block(nn.Module):
    """Pre-norm residual block: token mixing (attention or token MLP), then a channel MLP."""

    def __init__(self, block: dict[str, Any], dim: int, tokens: int, dropout: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.mixer = Attention(dim, block["heads"]) if block["mixer"] == "attention" else TokenMLP(tokens)
        self.norm2 = nn.LayerNorm(dim)
        hidden = block["mlp_ratio"] * dim
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop(self.mixer(self.norm1(x)))
        return x + self.drop(self.mlp(self.norm2(x)))


class ViTNetwork(nn.Module):
    def __init__(self, genome: Genome, task: TaskShape) -> None:
        super().__init__()
        c, h, w = task.input_shape
        dim, patch = genome["dim"], genome["stem"]["patch"]
        tokens = -(-h // patch) * -(-w // patch)
        self.stem = Stem(genome["stem"], c, dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim)) if genome["pool"] == "cls" else None
        tokens += self.cls_token is not None
        self.pos = nn.Parameter(torch.zeros(1, tokens, dim))
        self.drop = nn.Dropout(genome["dropout"])
        self.blocks = nn.Sequential(*(Block(b, dim, tokens, genome["dropout"]) for b in genome["blocks"]))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, task.n_classes)
        nn.init.trunc_normal_(self.pos, std=0.02)  # small random positions, as in ViT
        if self.cls_token is not None:
            nn.init.trunc_normal_(self.cls_token, std=0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        if self.cls_token is not None:
            x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1)
        x = self.norm(self.blocks(self.drop(x + self.pos)))
        return self.head(x[:, 0] if self.cls_token is not None else x.mean(dim=1))
