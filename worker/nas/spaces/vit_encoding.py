"""Fixed-length categorical encoding of `vit` genomes for policy strategies (REINFORCE and the like).

Six global decisions (stem type, patch, stem channels, dim, pool, dropout), then `max_blocks` slots of
three: the mixer ('none' = empty slot, or one of the options' mixers), heads and MLP ratio. Each is an
index into the options' grid; decisions a genome does not use (channels of a patch stem, heads of a token
MLP) are ignored when decoding and encoded as 0. Decoding goes through the operators' repair, so every
choice vector gives a valid genome.
"""

from __future__ import annotations

from typing import Any

from worker.nas.spaces.vit_genome import Block, normalise, repair_offspring
from worker.nas.spaces.vit_options import ViTOptions
from worker.nas.types import Genome, TaskShape

GLOBAL_GRIDS = ("stems", "patches", "stem_channels", "dims", "pools", "dropout_rates")
PER_SLOT = 3


def decisions(options: ViTOptions) -> list[int]:
    head = [len(getattr(options, grid)) for grid in GLOBAL_GRIDS]
    slot = [1 + len(options.mixers), len(options.heads), len(options.mlp_ratios)]
    return head + slot * options.max_blocks


def decode(choices: list[int], options: ViTOptions, task: TaskShape) -> Genome:
    cards = decisions(options)
    if not isinstance(choices, list) or len(choices) != len(cards):
        raise ValueError(f"choices: expected a list of {len(cards)} decisions")
    for i, (c, n) in enumerate(zip(choices, cards, strict=True)):
        if isinstance(c, bool) or not isinstance(c, int) or not 0 <= c < n:
            raise ValueError(f"choices[{i}]: expected an integer in [0, {n - 1}], got {c!r}")
    stem_type, patch, channels, dim, pool, rate = (
        getattr(options, grid)[c] for grid, c in zip(GLOBAL_GRIDS, choices, strict=False)
    )
    stem: dict[str, Any] = {"type": stem_type, "patch": patch}
    if stem_type == "conv":
        stem["channels"] = channels
    blocks: list[Block] = []
    for start in range(len(GLOBAL_GRIDS), len(choices), PER_SLOT):
        mixer, heads, ratio = choices[start : start + PER_SLOT]
        if mixer == 0:
            continue
        block: Block = {"mixer": options.mixers[mixer - 1]}
        if block["mixer"] == "attention":
            block["heads"] = options.heads[heads]
        block["mlp_ratio"] = options.mlp_ratios[ratio]
        blocks.append(block)
    genome = {"stem": stem, "dim": dim, "blocks": blocks, "pool": pool, "dropout": rate}
    return repair_offspring(genome, options, task)


def _index(value: Any, grid: list[Any]) -> int:
    if value in grid:
        return grid.index(value)
    if isinstance(value, int | float) and not isinstance(grid[0], str):
        return min(range(len(grid)), key=lambda i: abs(grid[i] - value))  # nearest grid value
    return 0


def encode(genome: Genome, options: ViTOptions, task: TaskShape) -> list[int]:
    """Choice indices of `genome`; exact for genomes on the options' grids, nearest grid value otherwise."""
    g = normalise(genome, options, task)
    stem = g["stem"]
    choices = [
        _index(stem["type"], options.stems),
        _index(stem["patch"], options.patches),
        _index(stem["channels"], options.stem_channels) if stem["type"] == "conv" else 0,
        _index(g["dim"], options.dims),
        _index(g["pool"], options.pools),
        _index(g["dropout"], options.dropout_rates),
    ]
    for block in g["blocks"]:
        if block["mixer"] not in options.mixers:
            continue  # a mixer the options exclude cannot be encoded; dropped
        choices += [
            1 + options.mixers.index(block["mixer"]),
            _index(block["heads"], options.heads) if block["mixer"] == "attention" else 0,
            _index(block["mlp_ratio"], options.mlp_ratios),
        ]
    return choices + [0] * (len(decisions(options)) - len(choices))
