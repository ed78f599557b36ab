"""Width, depth and resolution multipliers applied to a `layers` or `vit` genome (pure JSON arithmetic).

Rounding follows EfficientNet's habits: channels go to the nearest multiple of 8 (of 1 for widths that
are not multiples of 8) and never more than 10 % below the exact product; depth gives ceil(depth x n)
convs (blocks) in all, spread over the stages by their share (`stage_repeats`). Resolution is not a
genome change: the network resizes its input (`ResizedNet`), so the data pipeline, exports and latency
all keep the dataset's own input shape.
"""

from __future__ import annotations

import math
from typing import Any

from worker.nas.types import Genome, TaskShape

Layer = dict[str, Any]
MAX_CHANNELS = 4096  # the base spaces' limit on filters / dim (dense units allow more, capped the same)


def round_channels(c: int, m: float, cap: int = MAX_CHANNELS) -> int:
    if m == 1.0:
        return c
    divisor = 8 if c % 8 == 0 else 1
    exact = c * m
    out = max(divisor, int(exact + divisor / 2) // divisor * divisor)
    if out < 0.9 * exact:
        out += divisor
    return max(1, min(cap, out))


def repeats(n: int, d: float) -> int:
    """Blocks of a stage of n after depth multiplier d (at least one; 1e-9 absorbs float error)."""
    return max(1, math.ceil(n * d - 1e-9))


def scaled_task(task: TaskShape, r: float) -> TaskShape:
    c, h, w = task.input_shape
    return TaskShape((c, max(1, round(h * r)), max(1, round(w * r))), task.n_classes)


def _stages(spatial: list[Layer]) -> list[list[Layer]]:
    """Consecutive runs at one resolution: a pool or a stride-2 conv opens a new stage."""
    stages: list[list[Layer]] = [[]]
    for layer in spatial:
        if layer["type"] == "pool" or (layer["type"] == "conv" and layer.get("stride", 1) == 2):
            stages.append([])
        stages[-1].append(layer)
    return [s for s in stages if s]


def stage_repeats(counts: list[int], d: float) -> list[int]:
    """Convs per stage after depth multiplier d: ceil(d x total) in all, each stage floor(d x n) first,
    the rest one each by the largest remainder, later stages first on ties (they run at a lower
    resolution, as EfficientNet's deeper stages grow most). Finer than a per-stage ceil, which would
    double every one-conv stage of a small net at any d > 1."""
    if not counts:
        return []
    total = repeats(sum(counts), d)
    out = [max(n, math.floor(n * d + 1e-9)) if d >= 1 else max(1, math.floor(n * d + 1e-9)) for n in counts]
    order = sorted(
        range(len(counts)), key=lambda i: (-(counts[i] * d - math.floor(counts[i] * d + 1e-9)), -i)
    )
    k = 0
    while sum(out) < total:
        out[order[k % len(order)]] += 1
        k += 1
    while sum(out) > total and any(v > 1 for v in out):  # shrinking: trim the stages left the fullest
        i = max(range(len(out)), key=lambda j: (out[j], j))
        out[i] -= 1
    return out


def _deepen(stage: list[Layer], n: int) -> list[Layer]:
    """The stage with n convs: copies of its last conv (stride 1) follow that conv; when n is smaller
    than the stage's count, its last convs are dropped (never the first, which may carry the stride)."""
    convs = [i for i, layer in enumerate(stage) if layer["type"] == "conv"]
    if not convs:
        return stage
    if n < len(convs):
        drop = set(convs[n:])
        return [layer for i, layer in enumerate(stage) if i not in drop]
    last = convs[-1]
    copy = {**stage[last], "stride": 1}
    return stage[: last + 1] + [dict(copy) for _ in range(n - len(convs))] + stage[last + 1 :]


def scale_layers(genome: Genome, w: float, d: float) -> Genome:
    layers = genome["layers"]
    first_dense = next((i for i, layer in enumerate(layers) if layer["type"] == "dense"), len(layers))
    spatial, dense = layers[:first_dense], layers[first_dense:]
    stages = _stages(spatial)
    counts = [sum(layer["type"] == "conv" for layer in stage) for stage in stages]
    with_convs = [i for i, c in enumerate(counts) if c]
    wanted = dict(zip(with_convs, stage_repeats([counts[i] for i in with_convs], d), strict=True))
    out: list[Layer] = []
    for i, stage in enumerate(stages):
        out.extend(_deepen(stage, wanted[i]) if i in wanted else stage)
    out.extend(dense)
    wide: list[Layer] = []
    for layer in out:
        if layer["type"] == "conv":
            layer = {**layer, "filters": round_channels(layer["filters"], w)}
        elif layer["type"] == "dense":
            layer = {**layer, "units": round_channels(layer["units"], w)}
        wide.append(layer)
    return {"layers": wide}


def scale_vit(genome: Genome, w: float, d: float) -> Genome:
    blocks = genome["blocks"]
    n = repeats(len(blocks), d)
    stretched = [dict(blocks[i * len(blocks) // n]) for i in range(n)]  # each block repeated in place
    stem = dict(genome["stem"])
    if stem["type"] == "conv":
        stem["channels"] = round_channels(stem["channels"], w, cap=1024)
    return {**genome, "stem": stem, "dim": round_channels(genome["dim"], w), "blocks": stretched}


SCALERS = {"layers": scale_layers, "vit": scale_vit}


def scale_genome(space: str, genome: Genome, w: float, d: float) -> Genome:
    """The base genome with width w and depth d applied (resolution: see `scaled_task`)."""
    return SCALERS[space](genome, w, d)
