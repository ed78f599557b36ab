"""Checking, repairing and normalising `vit` genomes (see worker/nas/spaces/vit.py for the format).

`normalise` is the one place that decides what a valid genome is, so sampling, mutation, crossover,
decoding and user input all go through the same rules and `normalise(normalise(g)) == normalise(g)`.
"""

from __future__ import annotations

import math
from typing import Any

from worker.nas.spaces.vit_options import LIMITS, MIXERS, POOLS, STEMS, ViTOptions
from worker.nas.types import Genome, TaskShape

Block = dict[str, Any]

# Allowed fields with the default used when a field is missing (None = required).
TOP_FIELDS: dict[str, Any] = {
    "stem": {"type": "patch", "patch": 4},
    "dim": None,
    "blocks": None,
    "pool": "mean",
    "dropout": 0.0,
}
STEM_FIELDS: dict[str, dict[str, Any]] = {
    "patch": {"patch": 4},
    "conv": {"patch": 4, "channels": 32},
}
BLOCK_FIELDS: dict[str, dict[str, Any]] = {
    "attention": {"heads": 1, "mlp_ratio": 2},
    "token_mlp": {"mlp_ratio": 2},
}


def _int(where: str, value: Any, field: str) -> int:
    lo, hi = LIMITS[field]
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ValueError(f"{where}: expected an integer in [{lo}, {hi}], got {value!r}")
    return value


def _choice(where: str, value: Any, allowed: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"{where}: expected one of {list(allowed)}, got {value!r}")
    return value


def _fields(where: str, raw: Any, defaults: dict[str, Any], key: str | None = None) -> dict[str, Any]:
    """`raw` merged over `defaults`; unknown or missing fields raise ValueError naming them."""
    _object(where, raw)
    allowed = set(defaults) | ({key} if key else set())
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {unknown}; allowed: {sorted(allowed)}")
    merged = {**defaults, **{k: v for k, v in raw.items() if k != key}}
    missing = [k for k, v in merged.items() if v is None]
    if missing:
        raise ValueError(f"{where}.{missing[0]}: required")
    return merged


def _object(where: str, raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: expected an object, got {type(raw).__name__}")
    return raw


def parse_stem(raw: Any) -> dict[str, Any]:
    kind = _choice("stem.type", _object("stem", raw).get("type", "patch"), STEMS)
    merged = _fields("stem", raw, STEM_FIELDS[kind], key="type")
    stem = {"type": kind, "patch": _int("stem.patch", merged["patch"], "patch")}
    if kind == "conv":
        stem["channels"] = _int("stem.channels", merged["channels"], "channels")
    return stem


def parse_block(raw: Any, i: int) -> Block:
    where = f"blocks[{i}]"
    mixer = _choice(f"{where}.mixer", _object(where, raw).get("mixer", "attention"), MIXERS)
    merged = _fields(where, raw, BLOCK_FIELDS[mixer], key="mixer")
    block: Block = {"mixer": mixer}
    if mixer == "attention":
        block["heads"] = _int(f"{where}.heads", merged["heads"], "heads")
    block["mlp_ratio"] = _int(f"{where}.mlp_ratio", merged["mlp_ratio"], "mlp_ratio")
    return block


def parse_genome(genome: Any) -> Genome:
    """Every field present and type-checked (no repairs yet); ValueError names the field otherwise."""
    merged = _fields("genome", genome, TOP_FIELDS)
    blocks = merged["blocks"]
    if not isinstance(blocks, list):
        raise ValueError(f"blocks: expected a list of blocks, got {type(blocks).__name__}")
    rate = merged["dropout"]
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0.0 <= rate < 1.0:
        raise ValueError(f"dropout: expected a number in [0, 1), got {rate!r}")
    return {
        "stem": parse_stem(merged["stem"]),
        "dim": _int("dim", merged["dim"], "dim"),
        "blocks": [parse_block(raw, i) for i, raw in enumerate(blocks)],
        "pool": _choice("pool", merged["pool"], POOLS),
        "dropout": round(float(rate), 4),
    }


def token_grid(task: TaskShape, patch: int) -> tuple[int, int]:
    """Patches per column and per row once the image is zero-padded to a multiple of `patch`."""
    _, h, w = task.input_shape
    return math.ceil(h / patch), math.ceil(w / patch)


def n_tokens(genome: Genome, task: TaskShape) -> int:
    """Tokens the blocks see: one per patch, plus the class token with pool 'cls'."""
    th, tw = token_grid(task, genome["stem"]["patch"])
    return th * tw + (genome["pool"] == "cls")


def fit_patch(patch: int, task: TaskShape, grid: list[int]) -> int:
    """A patch larger than the image only adds weights that see padding: use the largest that fits."""
    size = max(task.input_shape[1:])
    if patch <= size:
        return patch
    fitting = [p for p in grid if p <= size]
    return max(fitting) if fitting else size


def fit_heads(heads: int, dim: int, grid: list[int]) -> int:
    """Heads must divide dim: the largest grid value <= heads that does, else the largest divisor."""
    if dim % heads == 0:
        return heads
    on_grid = [h for h in grid if h <= heads and dim % h == 0]
    return max(on_grid) if on_grid else max(d for d in range(1, heads + 1) if dim % d == 0)


def first_heads(dim: int, grid: list[int]) -> int:
    """The first grid value dividing dim (the options guarantee one for dims on their grid)."""
    return next((h for h in grid if dim % h == 0), 1)


def filler_block(options: ViTOptions, dim: int) -> Block:
    """The block appended when a genome has fewer than min_blocks: first value of each grid."""
    mixer = options.mixers[0]
    block: Block = {"mixer": mixer}
    if mixer == "attention":
        block["heads"] = first_heads(dim, options.heads)
    block["mlp_ratio"] = options.mlp_ratios[0]
    return block


def repair(genome: Genome, options: ViTOptions, task: TaskShape) -> Genome:
    """Fit the patch to the image, heads to dim, and pad the blocks up to min_blocks."""
    stem = {**genome["stem"], "patch": fit_patch(genome["stem"]["patch"], task, options.patches)}
    dim = genome["dim"]
    one_token = n_tokens({**genome, "stem": stem}, task) == 1
    blocks: list[Block] = []
    for block in genome["blocks"]:
        block = dict(block)
        if block["mixer"] == "attention":
            # With a single token every head attends to it with weight 1: the head count changes nothing.
            fitted = fit_heads(block["heads"], dim, options.heads)
            block["heads"] = first_heads(dim, options.heads) if one_token else fitted
        blocks.append(block)
    while len(blocks) < options.min_blocks:
        blocks.append(filler_block(options, dim))
    return {**genome, "stem": stem, "blocks": blocks}


def normalise(genome: Any, options: ViTOptions, task: TaskShape) -> Genome:
    """Check, repair and normalise; raise ValueError naming the field for what cannot be repaired."""
    parsed = parse_genome(genome)
    if len(parsed["blocks"]) > options.max_blocks:
        raise ValueError(
            f"blocks: at most max_blocks={options.max_blocks} blocks allowed, got {len(parsed['blocks'])}"
        )
    return repair(parsed, options, task)


def repair_offspring(genome: Genome, options: ViTOptions, task: TaskShape) -> Genome:
    """Normal form for what the search operators produce: extra blocks are dropped instead of raising."""
    return normalise({**genome, "blocks": genome["blocks"][: options.max_blocks]}, options, task)
