"""Checking, repairing and normalising `layers` genomes (see worker/nas/spaces/layers.py for the format).

`normalise` is the one place that decides what a valid genome is, so sampling, mutation, crossover,
decoding and user input all go through the same rules and `normalise(normalise(g)) == normalise(g)`.
"""

from __future__ import annotations

import math
from typing import Any

from worker.nas.spaces.layers_options import ACTIVATIONS, LAYER_KINDS, POOL_KINDS, LayersOptions
from worker.nas.types import Genome, TaskShape

Layer = dict[str, Any]

# Allowed fields per kind, with the default used when a field is missing (None = required).
FIELDS: dict[str, dict[str, Any]] = {
    "conv": {
        "filters": None,
        "kernel": 3,
        "stride": 1,
        "activation": "relu",
        "batch_norm": True,
        "separable": False,
    },
    "pool": {"kind": "max"},
    "dropout": {"rate": None},
    "dense": {"units": None, "activation": "relu"},
}
SPATIAL = ("conv", "pool")


def _int(where: str, value: Any, lo: int, hi: int, odd: bool = False) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ValueError(
            f"{where}: expected an integer in [{lo}, {hi}]{' (odd)' if odd else ''}, got {value!r}"
        )
    if odd and value % 2 == 0:
        raise ValueError(f"{where}: expected an odd integer in [{lo}, {hi}] (padding 'same'), got {value!r}")
    return value


def _choice(where: str, value: Any, allowed: tuple) -> Any:
    if isinstance(value, bool) != isinstance(allowed[0], bool) or value not in allowed:
        raise ValueError(f"{where}: expected one of {list(allowed)}, got {value!r}")
    return value


def parse_layer(raw: Any, i: int) -> Layer:
    """One layer with every field present and type-checked; ValueError names the field otherwise."""
    where = f"layers[{i}]"
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: expected an object with a 'type' field, got {type(raw).__name__}")
    kind = _choice(f"{where}.type", raw.get("type"), LAYER_KINDS)
    unknown = sorted(set(raw) - set(FIELDS[kind]) - {"type"})
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {unknown} for a {kind}; allowed: {sorted(FIELDS[kind])}")
    merged = {**FIELDS[kind], **{k: v for k, v in raw.items() if k != "type"}}
    missing = [k for k, v in merged.items() if v is None]
    if missing:
        raise ValueError(f"{where}.{missing[0]}: required for a {kind} layer")
    f = f"{where}."
    if kind == "conv":
        return {
            "type": "conv",
            "filters": _int(f + "filters", merged["filters"], 1, 4096),
            "kernel": _int(f + "kernel", merged["kernel"], 1, 15, odd=True),
            "stride": _choice(f + "stride", merged["stride"], (1, 2)),
            "activation": _choice(f + "activation", merged["activation"], ACTIVATIONS),
            "batch_norm": _choice(f + "batch_norm", merged["batch_norm"], (True, False)),
            "separable": _choice(f + "separable", merged["separable"], (True, False)),
        }
    if kind == "pool":
        return {"type": "pool", "kind": _choice(f + "kind", merged["kind"], POOL_KINDS)}
    if kind == "dropout":
        rate = merged["rate"]
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0.0 <= rate < 1.0:
            raise ValueError(f"{f}rate: expected a number in [0, 1), got {rate!r}")
        return {"type": "dropout", "rate": round(float(rate), 4)}
    return {
        "type": "dense",
        "units": _int(f + "units", merged["units"], 1, 65536),
        "activation": _choice(f + "activation", merged["activation"], ACTIVATIONS),
    }


def parse_genome(genome: Any) -> list[Layer]:
    if not isinstance(genome, dict) or set(genome) != {"layers"} or not isinstance(genome["layers"], list):
        raise ValueError(
            "genome: expected an object {'layers': [...]} with a list of layers and nothing else"
        )
    return [parse_layer(raw, i) for i, raw in enumerate(genome["layers"])]


def conv_first(layers: list[Layer]) -> list[Layer]:
    """Stable reorder: conv/pool layers (and the dropouts that follow them) before dense layers."""
    spatial: list[Layer] = []
    dense: list[Layer] = []
    in_dense = False
    for layer in layers:
        if layer["type"] != "dropout":
            in_dense = layer["type"] == "dense"
        (dense if in_dense else spatial).append(layer)
    return spatial + dense


def merge_dropouts(layers: list[Layer]) -> list[Layer]:
    """Back-to-back dropouts equal one dropout of the combined drop probability; rate 0 is identity."""
    out: list[Layer] = []
    for layer in layers:
        if layer["type"] == "dropout":
            if layer["rate"] == 0.0:
                continue
            if out and out[-1]["type"] == "dropout":
                keep = (1.0 - out[-1]["rate"]) * (1.0 - layer["rate"])
                out[-1] = {"type": "dropout", "rate": round(1.0 - keep, 4)}
                continue
        out.append(layer)
    return out


def fit_to_input(
    layers: list[Layer], task: TaskShape, kernels: list[int], min_resolution: int = 1
) -> tuple[list[Layer], int, int]:
    """Drop poolings that cannot shrink the map, and normalise strides/kernels that cannot matter.

    Poolings (strides) that would bring a map side below `min_resolution` are dropped (set to 1) too:
    the space's floor on how far the features may be downsampled.

    Pooling and strides use ceil mode, so no map ever shrinks below 1x1; what remains are layers that
    do nothing there or only add parameters: a pooling of a 1x1 map (identity, dropped), a stride on a
    1x1 map, kernel taps that only ever see padding (kernel > 2*max(H, W) - 1) and a separable 1x1 conv
    (the depthwise scale folds into the pointwise weights). Normalising them keeps the dedup key honest.
    Returns the repaired layers and the map size after the last spatial layer.
    """
    _, h, w = task.input_shape
    out: list[Layer] = []
    for layer in layers:
        if layer["type"] == "pool":
            if h == w == 1 or min(math.ceil(h / 2), math.ceil(w / 2)) < min_resolution:
                continue
            h, w = math.ceil(h / 2), math.ceil(w / 2)
        elif layer["type"] == "conv":
            layer = dict(layer)
            limit = 2 * max(h, w) - 1
            if layer["kernel"] > limit:
                fitting = [k for k in kernels if k <= limit]
                layer["kernel"] = max(fitting) if fitting else limit
            s = layer["stride"]
            if h == w == 1 or min(math.ceil(h / s), math.ceil(w / s)) < min_resolution:
                layer["stride"] = 1
            if layer["kernel"] == 1:
                layer["separable"] = False  # a 1x1 depthwise scale folds into the pointwise conv
            h, w = math.ceil(h / layer["stride"]), math.ceil(w / layer["stride"])
        out.append(layer)
    return out, h, w


def filler_conv(options: LayersOptions, h: int, w: int) -> Layer:
    """The conv appended when repairs leave fewer than min_depth layers: first choice of each grid."""
    limit = 2 * max(h, w) - 1
    fitting = [k for k in options.kernels if k <= limit]
    kernel = 3 if 3 in fitting else (max(fitting) if fitting else limit)
    return {
        "type": "conv",
        "filters": options.filters[0],
        "kernel": kernel,
        "stride": 1,
        "activation": options.activations[0],
        "batch_norm": options.batch_norm[0],
        "separable": options.separable[0] and kernel > 1,
    }


def normalise(genome: Any, options: LayersOptions, task: TaskShape) -> Genome:
    """Check, repair and normalise; raise ValueError naming the field for what cannot be repaired."""
    layers = conv_first(parse_genome(genome))
    layers, h, w = fit_to_input(layers, task, options.kernels, options.min_resolution)
    layers = merge_dropouts(layers)
    n_dense = sum(layer["type"] == "dense" for layer in layers)
    if n_dense > options.max_dense:
        raise ValueError(f"layers: at most max_dense={options.max_dense} dense layers allowed, got {n_dense}")
    if len(layers) > options.max_depth:
        raise ValueError(f"layers: at most max_depth={options.max_depth} layers allowed, got {len(layers)}")
    n_spatial = len(layers) - len(_dense_tail(layers))
    while len(layers) < options.min_depth:
        layers.insert(n_spatial, filler_conv(options, h, w))
    return {"layers": layers}


def _dense_tail(layers: list[Layer]) -> list[Layer]:
    for i, layer in enumerate(layers):
        if layer["type"] == "dense":
            return layers[i:]
    return []


def repair_offspring(layers: list[Layer], options: LayersOptions, task: TaskShape) -> Genome:
    """Normal form for what the search operators produce: repairs instead of raising.

    Extra dense layers (beyond max_dense) and layers beyond max_depth are dropped from the end, and a
    dropout right after another is dropped (rather than merged) so every rate stays on the options' grid,
    which keeps the policy encoding exact.
    """
    layers, _, _ = fit_to_input(conv_first(layers), task, options.kernels, options.min_resolution)
    kept: list[Layer] = []
    n_dense = 0
    for layer in layers:
        if layer["type"] == "dense":
            n_dense += 1
            if n_dense > options.max_dense:
                continue
        if layer["type"] == "dropout" and (layer["rate"] == 0.0 or (kept and kept[-1]["type"] == "dropout")):
            continue
        kept.append(layer)
    return normalise({"layers": kept[: options.max_depth]}, options, task)
