"""The `layers` space: a variable-length sequential CNN (the seed's search space).

Genome (plain JSON)::

    {"layers": [
        {"type": "conv", "filters": 32, "kernel": 3, "stride": 1, "activation": "relu",
         "batch_norm": true, "separable": false},
        {"type": "pool", "kind": "max"},
        {"type": "dropout", "rate": 0.25},
        {"type": "dense", "units": 64, "activation": "relu"}]}

Fields (defaults apply when a field is missing; anything else is an error naming the field):

- conv: `filters` (1-4096, required), `kernel` (odd 1-15, default 3, padding 'same'), `stride` (1 or 2,
  default 1), `activation` (relu, gelu, silu, elu, tanh; default relu), `batch_norm` (default true; the
  norm replaces the conv bias), `separable` (default false: depthwise k x k carrying the stride, then a
  1x1 pointwise conv; norm and activation once after the pair).
- pool: `kind` (max or avg, default max): 2x2, stride 2, ceil mode (so 7x7 becomes 4x4).
- dropout: `rate` in [0, 1) (required).
- dense: `units` (1-65536, required), `activation` (as conv).

The classifier head is placed automatically: after the conv/pool layers the map is globally averaged
(or flattened with option head="flatten"), then come the dense layers and a final Linear to the classes.

Repairs (in `validate`, so every genome the operators produce builds and runs on the task's input):
conv/pool layers are moved before dense layers (stable; a dropout travels with the layer before it);
pooling and strides use ceil mode, so no map shrinks below 1x1; a pooling of a 1x1 map (an identity) is
dropped; a stride on a 1x1 map becomes 1; a kernel whose taps would only ever see padding
(kernel > 2*max(H, W) - 1) shrinks to the largest fitting grid kernel;
a separable 1x1 conv becomes a plain one (the depthwise scale folds into the pointwise weights);
dropouts of rate 0 are removed and back-to-back dropouts merge into one of the combined rate; when repairs
leave fewer than min_depth layers, convs of the grids' first values are appended to the conv part.
More than max_depth layers or max_dense dense layers is an error for user input; the operators trim.

Depth counts every layer of the genome (conv, pool, dropout, dense), not the automatic head.
"""

from __future__ import annotations

import json
import random
from typing import Any, ClassVar

from worker.nas.spaces import layers_encoding
from worker.nas.spaces.base import DecisionValue, SearchSpace
from worker.nas.spaces.layers_cost import layer_label, trace
from worker.nas.spaces.layers_genome import FIELDS, Layer, normalise, repair_offspring
from worker.nas.spaces.layers_options import LayersOptions
from worker.nas.spaces.steps import chain_graph, totals
from worker.nas.types import Genome

# How often sampling and mutation pick each kind (among the options' kinds): mostly convolutions.
KIND_WEIGHTS = {"conv": 0.55, "pool": 0.2, "dropout": 0.1, "dense": 0.15}
# Field of a layer -> options grid it is drawn from.
GRID_OF = {
    "filters": "filters",
    "kernel": "kernels",
    "stride": "strides",
    "activation": "activations",
    "batch_norm": "batch_norm",
    "separable": "separable",
    "kind": "pool_kinds",
    "rate": "dropout_rates",
    "units": "dense_units",
}


class LayersSpace(SearchSpace):
    name: ClassVar[str] = "layers"
    Options: ClassVar[type[LayersOptions]] = LayersOptions
    description: ClassVar[str] = "Variable-length sequential CNN: conv, pool, dropout and dense layers"
    options: LayersOptions

    # --- operators -------------------------------------------------------------------------------------
    def sample(self, rng: random.Random) -> Genome:
        # The first layer is a conv: a net that pools or flattens the raw input first is rarely worth a slot.
        depth = rng.randint(self.options.min_depth, self.options.max_depth)
        kinds = ["conv"] + [self._random_kind(rng) for _ in range(depth - 1)]
        return self._repair([self._random_layer(kind, rng) for kind in kinds])

    def mutate(self, genome: Genome, rng: random.Random) -> Genome:
        """Add, remove or change one layer; retries a few times so the child differs from its parent."""
        layers = self.validate(genome)["layers"]
        key = self.canonical({"layers": layers})
        child = {"layers": layers}
        for _ in range(20):
            child = self._repair(self._mutate_once(layers, rng))
            if self.canonical(child) != key:
                break
        return child

    def crossover(self, a: Genome, b: Genome, rng: random.Random) -> tuple[Genome, Genome]:
        """One-point crossover over the layer lists: a cut in each parent, tails swapped, then repair.

        Cut pairs are limited to those keeping both children within [min_depth, max_depth]; the trivial
        pairs that just swap the parents are avoided whenever another exists.
        """
        la, lb = self.validate(a)["layers"], self.validate(b)["layers"]
        lo, hi = self.options.min_depth, self.options.max_depth
        pairs = [
            (i, j)
            for i in range(len(la) + 1)
            for j in range(len(lb) + 1)
            if lo <= i + len(lb) - j <= hi and lo <= j + len(la) - i <= hi
        ]
        proper = [(i, j) for i, j in pairs if (i, j) not in ((0, 0), (len(la), len(lb)))]
        i, j = rng.choice(proper or pairs)
        return self._repair(la[:i] + lb[j:]), self._repair(lb[:j] + la[i:])

    # --- identity --------------------------------------------------------------------------------------
    def validate(self, genome: Any) -> Genome:
        return normalise(genome, self.options, self.task)

    def canonical(self, genome: Genome) -> str:
        return json.dumps(self.validate(genome), sort_keys=True, separators=(",", ":"))

    # --- encodings -------------------------------------------------------------------------------------
    def decisions(self) -> list[int]:
        return layers_encoding.decisions(self.options)

    def decode(self, choices: list[int]) -> Genome:
        return layers_encoding.decode(choices, self.options, self.task)

    def encode(self, genome: Genome) -> list[int]:
        return layers_encoding.encode(genome, self.options, self.task)

    # --- description and cost --------------------------------------------------------------------------
    def to_graph(self, genome: Genome) -> dict[str, Any]:
        return chain_graph("layers", trace(self.validate(genome)["layers"], self.task, self.options.head))

    def cost(self, genome: Genome) -> dict[str, float]:
        """Exact parameter count and FLOPs (FlopCounterMode convention, one sample) in closed form."""
        return totals(trace(self.validate(genome)["layers"], self.task, self.options.head))

    def build(self, genome: Genome):
        from worker.nas.spaces.layers_torch import build_model

        return build_model(self.validate(genome)["layers"], self.task, self.options.head)

    def describe(self, genome: Genome) -> str:
        labels = [layer_label(layer) for layer in self.validate(genome)["layers"]]
        return "-".join(labels) or "linear"

    # --- analysis --------------------------------------------------------------------------------------
    def decision_features(self, genome: Genome) -> dict[str, DecisionValue]:
        """Depth, then each layer's kind and the fields that kind uses, named by position: `layer 2`
        is its kind, `layer 2 filters` its width (present only where layer 2 is a conv)."""
        layers = self.validate(genome)["layers"]
        out: dict[str, DecisionValue] = {"depth": len(layers)}
        for i, layer in enumerate(layers, start=1):
            out[f"layer {i}"] = layer["type"]
            out.update({f"layer {i} {field}": layer[field] for field in FIELDS[layer["type"]]})
        return out

    # --- helpers ---------------------------------------------------------------------------------------
    def _repair(self, layers: list[Layer]) -> Genome:
        return repair_offspring(layers, self.options, self.task)

    def _random_kind(self, rng: random.Random) -> str:
        kinds = self.options.kinds
        return rng.choices(kinds, weights=[KIND_WEIGHTS[k] for k in kinds])[0]

    def _random_layer(self, kind: str, rng: random.Random) -> Layer:
        return {"type": kind, **{f: rng.choice(getattr(self.options, GRID_OF[f])) for f in FIELDS[kind]}}

    def _mutate_once(self, layers: list[Layer], rng: random.Random) -> list[Layer]:
        layers = [dict(layer) for layer in layers]
        ops = ["change"] if layers else []
        if len(layers) < self.options.max_depth:
            ops.append("add")
        if len(layers) > self.options.min_depth:
            ops.append("remove")
        op = rng.choice(ops)
        if op == "add":
            layers.insert(rng.randint(0, len(layers)), self._random_layer(self._random_kind(rng), rng))
        elif op == "remove":
            layers.pop(rng.randrange(len(layers)))
        else:
            i = rng.randrange(len(layers))
            field = rng.choice([*FIELDS[layers[i]["type"]], "type"])
            if field == "type":  # a fresh layer of any kind in this slot
                layers[i] = self._random_layer(self._random_kind(rng), rng)
            else:
                grid = getattr(self.options, GRID_OF[field])
                others = [v for v in grid if v != layers[i][field]]
                if others:
                    layers[i][field] = rng.choice(others)
        return layers
