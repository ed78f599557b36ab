"""Zero-cost proxies: scores of a network at initialisation, from one batch, before any training.

- `zc_naswot` (Mellor et al., "Neural Architecture Search without Training"): the log-determinant of the
  kernel K[i, j] = number of activation units on which inputs i and j fall on the same side of zero, over
  every activation module. Networks that tell the batch's inputs apart score higher.
- `zc_synflow` (Tanaka et al., "Pruning neural networks without any data by iteratively conserving
  synaptic flow"): with every weight replaced by its absolute value and an all-ones input, the sum over
  parameters of |θ · ∂R/∂θ| where R is the sum of the outputs. Stored as its natural log, since it spans
  hundreds of orders of magnitude across depths.
- `zc_grad_norm`: the sum over parameter tensors of the L2 norm of the cross-entropy gradient on the batch.

Everything runs on a copy of the model with the global RNG state restored afterwards, so computing the
proxies changes neither the weights the candidate trains from nor any later random draw: a search with
them gives the same candidates as one without.
"""

from __future__ import annotations

import copy
import math
import time

import torch
from torch import nn

# Modules whose output sign defines the activation pattern (NASWOT's binary code).
ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.GELU, nn.SiLU, nn.ELU, nn.LeakyReLU, nn.Tanh, nn.Hardswish)
PROXY_METRICS = ("zc_naswot", "zc_synflow", "zc_grad_norm")


def naswot(model: nn.Module, x: torch.Tensor) -> float:
    """log|det K| of the activation-pattern kernel over the batch `x` (float64)."""
    n = x.shape[0]
    kernel = torch.zeros(n, n, dtype=torch.float64)

    def hook(_module: nn.Module, _inputs: object, out: torch.Tensor) -> None:
        code = (out.detach().reshape(n, -1) > 0).float()  # float32 dot products of 0/1 are exact below 2^24
        both_on = (code @ code.T).double()
        on = code.sum(dim=1, dtype=torch.float64)
        # Units on which i and j agree = both on + both off = both_on + (units - on_i - on_j + both_on).
        kernel.add_(2 * both_on + code.shape[1] - on[:, None] - on[None, :])

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, ACTIVATIONS)]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    sign, logdet = torch.linalg.slogdet(kernel)
    # A kernel of identical codes (no activations, or all inputs alike) is singular: the worst score.
    return float(logdet) if float(sign) > 0 else float("-inf")


def synflow_log(model: nn.Module, input_shape: tuple[int, ...]) -> float:
    """ln Σ |θ ⊙ ∂R/∂θ| of the sign-linearised network (eval mode, so BN uses its initial statistics).

    float32 first (float64 convolutions are ~10x slower on CPUs); float64 only when float32 overflows."""
    with torch.no_grad():
        for p in model.parameters():
            p.abs_()
    for dtype in (torch.float32, torch.float64):
        net = model.to(dtype).eval()
        net.zero_grad(set_to_none=True)
        net(torch.ones(1, *input_shape, dtype=dtype)).sum().backward()
        grads = [(p.detach() * p.grad).abs().sum().double() for p in net.parameters() if p.grad is not None]
        total = float(sum(grads)) if grads else 0.0
        if math.isfinite(total):
            break
    return math.log(total) if total > 0 and math.isfinite(total) else float("-inf")


def grad_norm(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.train()
    model.zero_grad(set_to_none=True)
    nn.functional.cross_entropy(model(x), y).backward()
    return float(sum(float(p.grad.norm()) for p in model.parameters() if p.grad is not None))


def zero_cost_metrics(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, input_shape: tuple[int, ...]
) -> dict[str, float]:
    """The three proxies of `model` (left untouched) on the batch (x, y), and the seconds they took.
    A proxy that fails or is not finite is left out rather than stored as a number it is not."""
    started = time.perf_counter()
    out: dict[str, float] = {}
    device = next(model.parameters()).device
    x, y = x.to(device), y.to(device)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        for name, compute in (
            ("zc_naswot", lambda m: naswot(m.train(), x)),
            ("zc_grad_norm", lambda m: grad_norm(m, x, y)),
            ("zc_synflow", lambda m: synflow_log(m.cpu(), input_shape)),
        ):
            try:
                value = compute(copy.deepcopy(model))
            except (RuntimeError, ValueError):  # e.g. a shape a proxy cannot take; the others still count
                continue
            if math.isfinite(value):
                out[name] = value
    out["zc_seconds"] = time.perf_counter() - started
    return out
