"""Options of the `vit` space: the grids that sampling, mutation and the policy encoding draw from."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from worker.nas.spaces.base import SpaceOptions, check_range, nonempty_unique

STEMS = ("patch", "conv")
MIXERS = ("attention", "token_mlp")
POOLS = ("cls", "mean")

Stem = Literal["patch", "conv"]
Mixer = Literal["attention", "token_mlp"]
Pool = Literal["cls", "mean"]
GRIDS = (
    "stems",
    "patches",
    "stem_channels",
    "dims",
    "mixers",
    "heads",
    "mlp_ratios",
    "pools",
    "dropout_rates",
)
# Hard limits on single values, shared by the options and the genome checks.
LIMITS = {
    "patch": (1, 64),
    "channels": (1, 1024),
    "dim": (1, 4096),
    "heads": (1, 64),
    "mlp_ratio": (1, 16),
}


class ViTOptions(SpaceOptions):
    """Grids of the `vit` space. Defaults suit small transformers on 28x28 and 32x32 images."""

    min_blocks: int = Field(1, ge=1, le=32, description="fewest transformer blocks")
    max_blocks: int = Field(
        6, ge=1, le=32, description="most transformer blocks; also the number of block slots of the encoding"
    )
    stems: list[Stem] = Field(
        default_factory=lambda: list(STEMS),
        description="'patch': one strided conv cuts the (padded) image into patches; "
        "'conv': a 3x3 conv + BatchNorm + GELU at full resolution first (hybrid)",
    )
    patches: list[int] = Field(
        default_factory=lambda: [4, 7, 8],
        description="patch sizes; the image is zero-padded to a multiple of the patch",
    )
    stem_channels: list[int] = Field(
        default_factory=lambda: [16, 32], description="channels of the conv stem's 3x3 conv"
    )
    dims: list[int] = Field(
        default_factory=lambda: [32, 48, 64, 96, 128], description="token width (embedding dimension)"
    )
    mixers: list[Mixer] = Field(
        default_factory=lambda: list(MIXERS),
        description="token mixing of a block: multi-head self-attention, or an MLP across tokens "
        "(MLP-Mixer style)",
    )
    heads: list[int] = Field(
        default_factory=lambda: [1, 2, 4], description="attention heads (each dim must have a divisor here)"
    )
    mlp_ratios: list[int] = Field(
        default_factory=lambda: [1, 2, 4], description="hidden width of a block's MLP, as a multiple of dim"
    )
    pools: list[Pool] = Field(
        default_factory=lambda: list(POOLS),
        description="what the classifier reads: a learned class token, or the mean of all tokens",
    )
    dropout_rates: list[float] = Field(
        default_factory=lambda: [0.0, 0.1],
        description="dropout after the embeddings and inside each block (0 = none)",
    )

    @model_validator(mode="after")
    def _check(self) -> ViTOptions:
        if self.min_blocks > self.max_blocks:
            raise ValueError(f"min_blocks ({self.min_blocks}) must be <= max_blocks ({self.max_blocks})")
        for name in GRIDS:
            nonempty_unique(name, getattr(self, name))
        for name, field in (
            ("patches", "patch"),
            ("stem_channels", "channels"),
            ("dims", "dim"),
            ("heads", "heads"),
            ("mlp_ratios", "mlp_ratio"),
        ):
            check_range(name, getattr(self, name), *LIMITS[field])
        if any(not 0.0 <= r < 1.0 for r in self.dropout_rates):
            raise ValueError(f"dropout_rates must lie in [0, 1); got {self.dropout_rates}")
        lonely = [d for d in self.dims if not any(d % h == 0 for h in self.heads)]
        if lonely:
            raise ValueError(f"dims {lonely} are divisible by none of heads {self.heads}; add 1 to heads")
        return self
