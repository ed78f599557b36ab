"""The largest network a `layers` or `vit` space can produce, for the server's size ceiling.

Computed with the space's own cost function (closed form, no torch) on the biggest configurations its
options allow, so it is exact up to repairs that only ever shrink a network:

- layers: parameters grow with every conv's filters and kernel, with batch norm, and (flatten head) with
  the map's resolution, so the biggest net is stride-1 convs of the largest filters and kernel followed by
  the largest dense layers; only the split of the depth between convs and dense layers is searched.
  (A separable conv with 1 filter outweighs a plain one by its input channels: ignored.)
- vit: every block is independent and grows with dim and mlp_ratio, so blocks are copies of the biggest
  one; patch size trades the patch embedding against the token count, so every patch, stem and mixer
  is tried (at most a few hundred closed-form evaluations).

- scaled: the largest point of its multiplier grid.

Other spaces (nb201, categorical) have small fixed networks and are not checked.
"""

from __future__ import annotations

from typing import Any

from worker.nas.types import Genome, TaskShape


def largest_params(space_type: str, options: dict[str, Any], task: TaskShape) -> int | None:
    """Parameters of the space's biggest network on `task`, or None for spaces not checked."""
    if space_type not in ("layers", "vit", "scaled"):
        return None
    from worker.nas.registry import space_class

    cls = space_class(space_type)
    space = cls(cls.Options.model_validate(options), task)
    if space_type == "scaled":  # a short grid of multipliers: every point is costed
        return max(int(space.cost(g)["params"]) for g in space.grid)
    genomes = _layers_genomes(space.options) if space_type == "layers" else _vit_genomes(space.options)
    best = 0
    for genome in genomes:
        try:
            best = max(best, int(space.cost(genome)["params"]))
        except Exception:  # a combination the space's rules refuse: not a network it would build
            continue
    return best


def _layers_genomes(o: Any) -> list[Genome]:
    conv = {
        "type": "conv",
        "filters": max(o.filters),
        "kernel": max(o.kernels),
        "stride": 1,
        "activation": o.activations[0],
        "batch_norm": max(o.batch_norm),
        "separable": min(o.separable),
    }
    dense = {"type": "dense", "units": max(o.dense_units), "activation": o.activations[0]}
    most_dense = min(o.max_dense, o.max_depth) if "dense" in o.kinds else 0
    return [
        {"layers": [dict(conv) for _ in range(o.max_depth - n)] + [dict(dense) for _ in range(n)]}
        for n in range(most_dense + 1)
    ]


def _vit_genomes(o: Any) -> list[Genome]:
    dim = max(o.dims)
    heads = next(h for h in o.heads if dim % h == 0)  # the options guarantee one
    blocks = {
        "attention": {"mixer": "attention", "heads": heads, "mlp_ratio": max(o.mlp_ratios)},
        "token_mlp": {"mixer": "token_mlp", "mlp_ratio": max(o.mlp_ratios)},
    }
    out = []
    for patch in o.patches:
        for stem in o.stems:
            stem_section = {"type": stem, "patch": patch}
            if stem == "conv":
                stem_section["channels"] = max(o.stem_channels)
            for mixer in o.mixers:
                out.append(
                    {
                        "stem": stem_section,
                        "dim": dim,
                        "blocks": [dict(blocks[mixer]) for _ in range(o.max_blocks)],
                        "pool": "cls" if "cls" in o.pools else "mean",  # the class token adds a token
                        "dropout": min(o.dropout_rates),
                    }
                )
    return out
