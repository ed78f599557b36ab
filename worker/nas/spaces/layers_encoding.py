"""Fixed-length categorical encoding of `layers` genomes for policy strategies (REINFORCE and the like).

There are `max_depth` slots; each slot is ten decisions: the layer kind ('none' or one of the options'
kinds), then filters, kernel, stride, activation, batch_norm, separable, pool kind, dropout rate and dense
units, each an index into the options' grid. Decisions a kind does not use are ignored when decoding and
encoded as 0. Decoding goes through the operators' repair, so every choice vector gives a valid genome.
"""

from __future__ import annotations

from typing import Any

from worker.nas.spaces.layers_genome import Layer, normalise, repair_offspring
from worker.nas.spaces.layers_options import LayersOptions
from worker.nas.types import Genome, TaskShape

# (field of a layer, name of the options grid) for the nine decisions after the kind.
FIELD_GRIDS: tuple[tuple[str, str], ...] = (
    ("filters", "filters"),
    ("kernel", "kernels"),
    ("stride", "strides"),
    ("activation", "activations"),
    ("batch_norm", "batch_norm"),
    ("separable", "separable"),
    ("kind", "pool_kinds"),
    ("rate", "dropout_rates"),
    ("units", "dense_units"),
)
USES: dict[str, tuple[str, ...]] = {
    "conv": ("filters", "kernel", "stride", "activation", "batch_norm", "separable"),
    "pool": ("kind",),
    "dropout": ("rate",),
    "dense": ("units", "activation"),
}
PER_SLOT = 1 + len(FIELD_GRIDS)


def decisions(options: LayersOptions) -> list[int]:
    slot = [1 + len(options.kinds)] + [len(getattr(options, grid)) for _, grid in FIELD_GRIDS]
    return slot * options.max_depth


def decode(choices: list[int], options: LayersOptions, task: TaskShape) -> Genome:
    cards = decisions(options)
    if len(choices) != len(cards):
        raise ValueError(f"choices: expected {len(cards)} decisions, got {len(choices)}")
    for i, (c, n) in enumerate(zip(choices, cards, strict=True)):
        if isinstance(c, bool) or not isinstance(c, int) or not 0 <= c < n:
            raise ValueError(f"choices[{i}]: expected an integer in [0, {n - 1}], got {c!r}")
    layers: list[Layer] = []
    for start in range(0, len(choices), PER_SLOT):
        slot = choices[start : start + PER_SLOT]
        if slot[0] == 0:
            continue
        kind = options.kinds[slot[0] - 1]
        layer: Layer = {"type": kind}
        for (field, grid), index in zip(FIELD_GRIDS, slot[1:], strict=True):
            if field in USES[kind]:
                layer[field] = getattr(options, grid)[index]
        layers.append(layer)
    return repair_offspring(layers, options, task)


def _index(value: Any, grid: list[Any]) -> int:
    if value in grid and isinstance(value, bool) == isinstance(grid[0], bool):
        return grid.index(value)
    if isinstance(value, int | float) and not isinstance(value, bool) and not isinstance(grid[0], str | bool):
        return min(range(len(grid)), key=lambda i: abs(grid[i] - value))  # nearest grid value
    return 0


def encode(genome: Genome, options: LayersOptions, task: TaskShape) -> list[int]:
    """Choice indices of `genome`; exact for genomes on the options' grids, nearest grid value otherwise."""
    layers = normalise(genome, options, task)["layers"]
    choices: list[int] = []
    for layer in layers:
        if layer["type"] not in options.kinds:
            continue  # a kind the options exclude cannot be encoded; dropped
        slot = [1 + options.kinds.index(layer["type"])]
        for field, grid in FIELD_GRIDS:
            used = field in USES[layer["type"]]
            slot.append(_index(layer[field], getattr(options, grid)) if used else 0)
        choices += slot
    return choices + [0] * (len(decisions(options)) - len(choices))
