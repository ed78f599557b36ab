"""The `scaled` space: compound scaling of one finished network (EfficientNet's idea, searched).

Genome (plain JSON): ``{"width": 1.35, "depth": 2.0, "resolution": 1.15}``, each value on its options
grid (`widths`, `depths`, `resolutions`). The network is the options' `base_genome` (a `layers` or
`vit` genome) with the channels multiplied by `width`, each stage's convs (or the blocks) repeated
`depth` times, and its input resized by `resolution` (worker.nas.spaces.scaling).

Cost in closed form: the base space's own cost of the scaled genome on the resized input. The budget
(`factor` x the base network's FLOPs or params, `budget_metric`) defines a band [min_share x budget, budget]:
sampling and mutation keep to the grid points inside it, which is the search form of EfficientNet's
alpha*beta^2*gamma^2 ~ 2 rule (FLOPs grow about as depth x width^2 x resolution^2) without fixing the
ratios between the axes. Points outside the band stay valid genomes (user input, decoded policies); a
max_flops / max_params constraint in the spec is what rejects an over-budget network before training.
With `reference: true` the base network itself (all multipliers 1) is proposed first (`seeds`).
"""

from __future__ import annotations

import itertools
import json
import random
from functools import cached_property
from typing import Any, ClassVar

from worker.nas.registry import space_class
from worker.nas.spaces.base import DecisionValue, SearchSpace
from worker.nas.spaces.scaled_options import ScaledOptions
from worker.nas.spaces.scaling import scale_genome, scaled_task
from worker.nas.types import Genome, TaskShape

AXES = (("width", "widths"), ("depth", "depths"), ("resolution", "resolutions"))
# Room for the deepened network: the base space's own hard limits, not the base search's depth range.
DEEP_LIMITS = {"layers": {"max_depth": 64}, "vit": {"max_blocks": 32}}
IDENTITY = {"width": 1.0, "depth": 1.0, "resolution": 1.0}


class ScaledSpace(SearchSpace):
    name: ClassVar[str] = "scaled"
    Options: ClassVar[type[ScaledOptions]] = ScaledOptions
    description: ClassVar[str] = (
        "Compound scaling of a finished layers or vit network: width, depth and input-resolution "
        "multipliers under a FLOPs or params budget"
    )
    options: ScaledOptions

    def __init__(self, options: ScaledOptions | None = None, task: TaskShape | None = None) -> None:
        super().__init__(options, task)
        o = self.options
        cls = space_class(o.base_space)
        self._base_cls = cls
        self._base_options = cls.Options.model_validate({**o.base_options, **DEEP_LIMITS[o.base_space]})
        self._bases: dict[float, SearchSpace] = {}
        self.base_genome = self._base(1.0).validate(o.base_genome)

    # --- the base network at a resolution ---------------------------------------------------------------
    def _base(self, r: float) -> SearchSpace:
        if r not in self._bases:
            self._bases[r] = self._base_cls(self._base_options, scaled_task(self.task, r))
        return self._bases[r]

    def scaled(self, genome: Genome) -> tuple[SearchSpace, Genome]:
        """(base space at the genome's resolution, the scaled base genome in normal form)."""
        g = self.validate(genome)
        base = self._base(g["resolution"])
        net = scale_genome(self.options.base_space, self.base_genome, g["width"], g["depth"])
        return base, base.validate(net)

    def base_cost(self) -> dict[str, float]:
        return self._base(1.0).cost(self.base_genome)

    # --- the budget band ------------------------------------------------------------------------------
    @cached_property
    def grid(self) -> list[Genome]:
        o = self.options
        return [
            {"width": w, "depth": d, "resolution": r}
            for w, d, r in itertools.product(o.widths, o.depths, o.resolutions)
        ]

    @cached_property
    def band(self) -> list[Genome]:
        """Grid points costing within [min_share x budget, budget]; when none do, the dearest under the
        budget; when none is under it, the cheapest point."""
        o = self.options
        metric = "params" if o.budget_metric == "params" else "flops"
        limit = o.factor * self.base_cost()[metric]
        costs = [(self.cost(g)[metric], i) for i, g in enumerate(self.grid)]
        inside = [i for c, i in costs if o.min_share * limit <= c <= limit]
        if not inside:
            under = [(c, i) for c, i in costs if c <= limit]
            inside = [max(under)[1]] if under else [min(costs)[1]]
        return [self.grid[i] for i in inside]

    @cached_property
    def _band_keys(self) -> set[str]:
        return {self._key(g) for g in self.band}

    # --- operators -------------------------------------------------------------------------------------
    def sample(self, rng: random.Random) -> Genome:
        return dict(rng.choice(self.band))

    def mutate(self, genome: Genome, rng: random.Random) -> Genome:
        """A band point one grid step away on one or more axes (a trade: one axis up, another down)."""
        g = self.validate(genome)
        idx = self._indices(g)
        near = [
            p
            for p in self.band
            if p != g and max(abs(a - b) for a, b in zip(self._indices(p), idx, strict=True)) <= 1
        ]
        others = [p for p in self.band if p != g]
        pool = near or others or [g]
        return dict(rng.choice(pool))

    def crossover(self, a: Genome, b: Genome, rng: random.Random) -> tuple[Genome, Genome]:
        ga, gb = self.validate(a), self.validate(b)
        pick = [rng.random() < 0.5 for _ in AXES]
        c1 = {k: (ga if p else gb)[k] for (k, _), p in zip(AXES, pick, strict=True)}
        c2 = {k: (gb if p else ga)[k] for (k, _), p in zip(AXES, pick, strict=True)}
        return self._into_band(c1, ga), self._into_band(c2, gb)

    def seeds(self) -> list[Genome]:
        return [dict(IDENTITY)] if self.options.reference else []

    # --- identity --------------------------------------------------------------------------------------
    def validate(self, genome: Any) -> Genome:
        if not isinstance(genome, dict) or set(genome) != {k for k, _ in AXES}:
            raise ValueError("genome: expected an object {'width': w, 'depth': d, 'resolution': r}")
        out: Genome = {}
        for key, grid_name in AXES:
            value, grid = genome[key], getattr(self.options, grid_name)
            if isinstance(value, bool) or not isinstance(value, int | float) or float(value) not in grid:
                raise ValueError(f"{key}: expected one of {grid} (options.{grid_name}), got {value!r}")
            out[key] = float(value)
        return out

    def canonical(self, genome: Genome) -> str:
        """Multipliers that round to the same network (depth 1.5 and 2.0 of a one-conv stage) are one."""
        base, g = self.scaled(genome)
        return json.dumps({"input": list(base.task.input_shape), "net": json.loads(base.canonical(g))})

    def _key(self, genome: Genome) -> str:
        return json.dumps(self.validate(genome), sort_keys=True)

    # --- encodings -------------------------------------------------------------------------------------
    def decisions(self) -> list[int]:
        return [len(getattr(self.options, grid)) for _, grid in AXES]

    def decode(self, choices: list[int]) -> Genome:
        return {k: getattr(self.options, grid)[c] for (k, grid), c in zip(AXES, choices, strict=True)}

    def encode(self, genome: Genome) -> list[int]:
        return self._indices(self.validate(genome))

    def features(self, genome: Genome) -> list[float]:
        g = self.validate(genome)
        return [g["width"], g["depth"], g["resolution"]]

    def genomes(self) -> list[Genome] | None:
        return [dict(g) for g in self.band]

    # --- description and cost --------------------------------------------------------------------------
    def to_graph(self, genome: Genome) -> dict[str, Any]:
        base, g = self.scaled(genome)
        graph = base.to_graph(g)
        c, h, w = self.task.input_shape
        _, sh, sw = base.task.input_shape
        if (sh, sw) != (h, w) and graph["nodes"]:
            graph["nodes"][0]["label"] = f"input {c}x{h}x{w} → resize {sh}x{sw}"
        return graph

    def cost(self, genome: Genome) -> dict[str, float]:
        base, g = self.scaled(genome)
        return base.cost(g)

    def build(self, genome: Genome):
        from worker.nas.spaces.scaled_net import ResizedNet

        base, g = self.scaled(genome)
        _, h, w = base.task.input_shape
        return ResizedNet((h, w), base.build(g))

    def describe(self, genome: Genome) -> str:
        v = self.validate(genome)
        base, g = self.scaled(v)
        return f"w{v['width']:g}·d{v['depth']:g}·r{v['resolution']:g} {base.describe(g)}"

    def decision_features(self, genome: Genome) -> dict[str, DecisionValue]:
        return dict(self.validate(genome))

    # --- helpers ---------------------------------------------------------------------------------------
    def _indices(self, g: Genome) -> list[int]:
        return [getattr(self.options, grid).index(g[k]) for k, grid in AXES]

    def _into_band(self, child: Genome, fallback: Genome) -> Genome:
        return child if self._key(child) in self._band_keys else dict(fallback)
