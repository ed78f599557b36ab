"""The traced form of a sequential network, shared by the spaces that compute costs in closed form:
one `Step` per drawn node, summed into params/FLOPs and chained into the dashboard's diagram."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Step:
    """One node of the network as drawn and counted (input, a layer or block, pooling, head, output)."""

    id: str
    type: str
    label: str
    shape: tuple[int, ...]
    params: int = 0
    flops: int = 0


def totals(steps: list[Step]) -> dict[str, float]:
    return {"params": float(sum(s.params for s in steps)), "flops": float(sum(s.flops for s in steps))}


def chain_graph(kind: str, steps: list[Step]) -> dict[str, Any]:
    """Nodes in order, each edge labelled with the shape flowing along it."""
    nodes = [
        {"id": s.id, "label": s.label, "type": s.type, "shape": list(s.shape), "params": s.params}
        for s in steps
    ]
    edges = [
        {"source": a.id, "target": b.id, "label": "x".join(map(str, a.shape))}
        for a, b in zip(steps, steps[1:], strict=False)
    ]
    return {"kind": kind, "nodes": nodes, "edges": edges}
