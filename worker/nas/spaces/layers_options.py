"""Options of the `layers` space: the grids that sampling, mutation and the policy encoding draw from."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from worker.nas.spaces.base import SpaceOptions, check_range, nonempty_unique

ACTIVATIONS = ("relu", "gelu", "silu", "elu", "tanh")
LAYER_KINDS = ("conv", "pool", "dropout", "dense")
POOL_KINDS = ("max", "avg")

Activation = Literal["relu", "gelu", "silu", "elu", "tanh"]
LayerKind = Literal["conv", "pool", "dropout", "dense"]
PoolKind = Literal["max", "avg"]
GRIDS = (
    "kinds",
    "filters",
    "kernels",
    "strides",
    "activations",
    "batch_norm",
    "separable",
    "pool_kinds",
    "dropout_rates",
    "dense_units",
)


class LayersOptions(SpaceOptions):
    """Grids of the `layers` space. Defaults suit small, efficient nets on 28x28 grayscale images."""

    min_depth: int = Field(
        2, ge=1, le=64, description="fewest layers (conv, pool, dropout and dense all count)"
    )
    max_depth: int = Field(
        8, ge=1, le=64, description="most layers; also the number of slots of the encoding"
    )
    kinds: list[LayerKind] = Field(
        default_factory=lambda: list(LAYER_KINDS), description="layer kinds the search may use"
    )
    filters: list[int] = Field(
        default_factory=lambda: [8, 16, 24, 32, 48, 64, 96, 128], description="output channels of a conv"
    )
    kernels: list[int] = Field(default_factory=lambda: [1, 3, 5], description="odd conv kernel sizes")
    strides: list[int] = Field(default_factory=lambda: [1, 2], description="conv strides (1 must be listed)")
    activations: list[Activation] = Field(
        default_factory=lambda: list(ACTIVATIONS), description="activations of conv and dense layers"
    )
    batch_norm: list[bool] = Field(
        default_factory=lambda: [True, False], description="whether a conv is followed by BatchNorm"
    )
    separable: list[bool] = Field(
        default_factory=lambda: [False, True], description="plain conv, or depthwise-separable conv"
    )
    pool_kinds: list[PoolKind] = Field(default_factory=lambda: list(POOL_KINDS), description="2x2 pooling")
    dropout_rates: list[float] = Field(
        default_factory=lambda: [0.1, 0.2, 0.3, 0.4, 0.5], description="dropout probabilities"
    )
    dense_units: list[int] = Field(
        default_factory=lambda: [16, 32, 64, 128, 256], description="units of a hidden dense layer"
    )
    max_dense: int = Field(2, ge=0, le=16, description="most hidden dense layers before the classifier")
    min_resolution: int = Field(
        1,
        ge=1,
        le=4096,
        description="smallest feature-map side a pooling or stride may produce; poolings that would go "
        "below it are dropped and such strides set to 1 (e.g. 7 keeps 28x28 inputs at >= 7x7)",
    )
    head: Literal["gap", "flatten"] = Field(
        "gap", description="how conv features reach the dense layers: global average pool, or flatten"
    )

    @model_validator(mode="after")
    def _check(self) -> LayersOptions:
        if self.min_depth > self.max_depth:
            raise ValueError(f"min_depth ({self.min_depth}) must be <= max_depth ({self.max_depth})")
        for name in GRIDS:
            nonempty_unique(name, getattr(self, name))
        if "conv" not in self.kinds:
            raise ValueError(f"kinds must include 'conv'; got {self.kinds}")
        check_range("filters", self.filters, 1, 4096)
        check_range("dense_units", self.dense_units, 1, 65536)
        check_range("kernels", self.kernels, 1, 15)
        if any(k % 2 == 0 for k in self.kernels):
            raise ValueError(f"kernels must be odd (padding 'same'); got {self.kernels}")
        if not set(self.strides) <= {1, 2} or 1 not in self.strides:
            raise ValueError(f"strides must be a subset of [1, 2] containing 1; got {self.strides}")
        if any(not 0.0 < r < 1.0 for r in self.dropout_rates):
            raise ValueError(f"dropout_rates must lie in (0, 1); got {self.dropout_rates}")
        return self
