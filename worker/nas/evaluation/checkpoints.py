"""Checkpoint files (tensors and plain numbers only, loaded with weights_only=True) and weight inheritance."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch


def save_checkpoint(state: dict[str, Any], path: str | Path) -> str:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(state, tmp)
    tmp.replace(path)  # atomic: a reader never sees half a file
    return str(path)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    # weights_only refuses arbitrary pickled objects, so a checkpoint file can never run code.
    return torch.load(Path(path), map_location="cpu", weights_only=True)


def inherit_weights(model: torch.nn.Module, parent_state: dict[str, torch.Tensor]) -> int:
    """Copy every parent tensor whose name and shape match into `model`; return how many were copied."""
    own = model.state_dict()
    matched = {k: v for k, v in parent_state.items() if k in own and own[k].shape == v.shape}
    if matched:
        own.update(matched)
        model.load_state_dict(own)
    return len(matched)
