"""Options of the `scaled` space: the network to scale, the multiplier grids and the budget to fill."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from worker.nas.spaces.base import SpaceOptions, nonempty_unique

BASE_SPACES = ("layers", "vit")
MULTIPLIER_RANGE = (0.25, 4.0)  # one axis never shrinks or grows a network further than this


class ScaledOptions(SpaceOptions):
    """A finished network (`base_genome` of space `base_space`) and the width/depth/resolution
    multipliers the search may apply to it."""

    base_space: Literal["layers", "vit"] = Field("layers", description="the space of the base network")
    base_options: dict[str, Any] = Field(
        default_factory=dict, description="options of the base space (as in the base search's spec)"
    )
    base_genome: dict[str, Any] = Field(
        default_factory=lambda: {"layers": [{"type": "conv", "filters": 16}, {"type": "pool"}]},
        description="the network to scale: a genome of base_space",
    )
    widths: list[float] = Field(
        default_factory=lambda: [1.0, 1.1, 1.2, 1.3, 1.4, 1.5, 1.75, 2.0, 2.5],
        description="channel multipliers (conv filters, dense units; token width and stem channels)",
    )
    depths: list[float] = Field(
        default_factory=lambda: [1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 4.0],
        description="depth multipliers: ceil(depth x count) convs (or transformer blocks) in all, "
        "each stage grown by its share, the last conv of a stage repeated",
    )
    resolutions: list[float] = Field(
        default_factory=lambda: [1.0, 1.1, 1.2, 1.3, 1.4, 1.5, 1.75, 2.0],
        description="input-resolution multipliers: the network resizes its input to round(side x r)",
    )
    # The budget, as flat fields (the dashboard's form draws flat options): factor x the base's cost.
    budget_metric: Literal["flops", "params", "latency_ms"] = Field(
        "flops",
        description="the cost the budget is on; latency_ms is measured, so the space fills a FLOPs "
        "band of the same factor and the search's max_latency_ms constraint enforces the latency",
    )
    factor: float = Field(2.0, gt=0.05, le=64, description="budget = factor x the base network's cost")
    min_share: float = Field(
        0.5,
        gt=0,
        le=1,
        description="sampling and mutation keep to multipliers costing at least this share of the "
        "budget (the band where EfficientNet's alpha*beta^2*gamma^2 ~ factor lies)",
    )
    reference: bool = Field(
        True,
        description="train the base network itself first (all multipliers 1), with the same recipe, "
        "as the reference the scaled networks are compared with",
    )

    @model_validator(mode="after")
    def _check(self) -> ScaledOptions:
        lo, hi = MULTIPLIER_RANGE
        for name in ("widths", "depths", "resolutions"):
            values = getattr(self, name)
            nonempty_unique(name, values)
            bad = [v for v in values if not lo <= v <= hi]
            if bad:
                raise ValueError(f"{name} must lie in [{lo}, {hi}]; got {bad}")
            if self.reference and 1.0 not in values:
                raise ValueError(f"{name} must contain 1.0 with reference: true (the base network)")
        from worker.nas.registry import space_class  # the base space validates its own options and genome

        cls = space_class(self.base_space)
        base = cls(cls.Options.model_validate(self.base_options))
        try:
            base.validate(self.base_genome)
        except ValueError as err:
            raise ValueError(f"base_genome is not a valid {self.base_space} genome: {err}") from err
        return self
