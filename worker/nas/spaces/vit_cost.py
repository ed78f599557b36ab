"""Shapes, parameters and FLOPs of a normalised `vit` genome in closed form (no torch, microseconds).

Counts follow the builder (vit_net.py) exactly, and FLOPs follow torch's FlopCounterMode convention:
2 x multiply-accumulates of convolutions, linear layers and the attention matrix products, per input
sample (bias adds, norms, softmax, GELU and pooling count zero); tests check both against the built model.
"""

from __future__ import annotations

from typing import Any

from worker.nas.spaces.steps import Step
from worker.nas.spaces.vit_genome import token_grid
from worker.nas.types import Genome, TaskShape

Block = dict[str, Any]


def block_label(block: Block) -> str:
    """'MHSA h=2 · MLP x2' for attention, 'Token-MLP · MLP x4' for the MLP-Mixer style block."""
    mixer = f"MHSA h={block['heads']}" if block["mixer"] == "attention" else "Token-MLP"
    return f"{mixer} · MLP x{block['mlp_ratio']}"


def block_token(block: Block) -> str:
    """Short token for descriptions: A2r4 (attention, 2 heads, MLP x4) or Mr4 (token MLP, MLP x4)."""
    mixer = f"A{block['heads']}" if block["mixer"] == "attention" else "M"
    return f"{mixer}r{block['mlp_ratio']}"


def stem_label(stem: dict[str, Any], dim: int) -> str:
    patch = f"Patch {stem['patch']}x{stem['patch']} → {dim}"
    return f"Conv3x3 {stem['channels']} · {patch}" if stem["type"] == "conv" else patch


def _stem(genome: Genome, task: TaskShape, tokens: int) -> tuple[int, int]:
    c, h, w = task.input_shape
    stem, d = genome["stem"], genome["dim"]
    p = stem["patch"]
    th, tw = token_grid(task, p)
    params = flops = 0
    if stem["type"] == "conv":  # 3x3 conv without bias (BatchNorm's affine pair follows), 'same' size
        ch = stem["channels"]
        params += c * ch * 9 + 2 * ch
        flops += 2 * h * w * c * ch * 9
        c = ch
    params += c * d * p * p + d  # patch embedding conv, with bias
    flops += 2 * th * tw * c * d * p * p
    params += tokens * d + (d if genome["pool"] == "cls" else 0)  # position embeddings, class token
    return params, flops


def _block(block: Block, d: int, t: int) -> tuple[int, int]:
    hidden = block["mlp_ratio"] * d
    params = 4 * d + 2 * d * hidden + hidden + d  # two LayerNorms, channel MLP
    flops = 2 * t * 2 * d * hidden
    if block["mixer"] == "attention":
        params += 4 * d * d + 4 * d  # qkv and output projections, with biases
        flops += 2 * t * 4 * d * d + 2 * 2 * t * t * d  # projections, q @ k^T and weights @ v
    else:
        params += 2 * (t * t + t)  # token MLP: Linear(t, t), GELU, Linear(t, t), shared by channels
        flops += 2 * 2 * d * t * t
    return params, flops


def trace(genome: Genome, task: TaskShape) -> list[Step]:
    """Every step of the network with its output shape, parameters and FLOPs."""
    c, h, w = task.input_shape
    d, k = genome["dim"], task.n_classes
    th, tw = token_grid(task, genome["stem"]["patch"])
    t = th * tw + (genome["pool"] == "cls")
    params, flops = _stem(genome, task, t)
    steps = [
        Step("input", "input", f"input {c}x{h}x{w}", (c, h, w)),
        Step("stem", "stem", stem_label(genome["stem"], d), (t, d), params, flops),
    ]
    for i, block in enumerate(genome["blocks"]):
        params, flops = _block(block, d, t)
        steps.append(Step(f"B{i}", block["mixer"], block_label(block), (t, d), params, flops))
    pool = "LayerNorm · class token" if genome["pool"] == "cls" else "LayerNorm · mean of tokens"
    steps.append(Step("pool", genome["pool"], pool, (d,), 2 * d))
    steps.append(Step("head", "linear", f"Linear {k}", (k,), d * k + k, 2 * d * k))
    return steps
