"""Parameter and FLOP counts of a built torch model, shared by every space and the evaluators.

FLOPs follow torch's `FlopCounterMode` convention: 2 x multiply-accumulates of convolutions and matrix
products (bias adds, normalisation, activations and pooling are not counted). Spaces that compute their
cost in closed form use the same convention so both figures can be compared exactly.
"""

from __future__ import annotations

from typing import Any


def count_params(model: Any) -> int:
    """Number of parameters (trainable or frozen; buffers such as BatchNorm running stats excluded)."""
    return sum(p.numel() for p in model.parameters())


def count_flops(model: Any, input_shape: tuple[int, ...], batch_size: int = 1) -> int:
    """FLOPs of one forward pass of `model` in eval mode on a zero batch of `input_shape` (C, H, W ...)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    was_training = model.training
    model.eval()
    try:
        param = next(model.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
        dtype = param.dtype if param is not None else torch.float32
        x = torch.zeros((batch_size, *input_shape), device=device, dtype=dtype)
        counter = FlopCounterMode(display=False)
        with torch.no_grad(), counter:
            model(x)
        return int(counter.get_total_flops())
    finally:
        model.train(was_training)
