"""The `vit` space: small vision transformers, MLP-Mixer-like nets and hybrid conv-stem transformers.

Genome (plain JSON)::

    {"stem": {"type": "conv", "patch": 4, "channels": 32},
     "dim": 64,
     "blocks": [{"mixer": "attention", "heads": 2, "mlp_ratio": 2},
                {"mixer": "token_mlp", "mlp_ratio": 4}],
     "pool": "cls",
     "dropout": 0.1}

Fields (defaults apply when a field is missing; anything else is an error naming the field):

- `stem.type`: 'patch' (default; the image is cut into patches by one strided conv) or 'conv' (hybrid: a
  3x3 conv without bias, BatchNorm and GELU at full resolution first). `stem.patch` (1-64, default 4):
  the image is zero-padded on the right/bottom to a multiple of the patch, so any input size works and
  there is always at least one token. `stem.channels` (1-1024, default 32; conv stem only).
- `dim` (1-4096, required): token width, the same in every block.
- `blocks` (required, list): pre-norm residual blocks `x + mixer(LN(x))`, then `x + MLP(LN(x))` with
  MLP = Linear(dim, mlp_ratio*dim), GELU, Linear back. `mixer` is 'attention' (default; multi-head
  self-attention with `heads` 1-64, default 1) or 'token_mlp' (MLP-Mixer style: Linear(tokens, tokens),
  GELU, Linear(tokens, tokens) across the token axis, shared by channels; it takes no `heads`).
  `mlp_ratio`: integer 1-16, default 2.
- `pool` ('mean' default, or 'cls'): the classifier reads the mean of the tokens or a learned class token
  prepended to them. Learned position embeddings cover every token (class token included).
- `dropout` in [0, 1), default 0: after the embeddings and after each mixer and MLP.

After the blocks come a LayerNorm, the pooling and a Linear to the classes.

Repairs (in `validate`, so every genome the operators produce builds and runs on the task's input): a
patch larger than the image (only weights that see padding) becomes the largest patch of the options'
grid that fits, else the image size; heads that do not divide dim become the largest grid value below
them that does (else dim's largest divisor below them); with a single token (attention is then a linear
map of it, whatever the head count) heads become the first grid value dividing dim; fewer than
min_blocks blocks are padded with blocks of the grids' first values. More than max_blocks blocks is an
error for user input; the operators trim.
"""

from __future__ import annotations

import json
import random
from typing import Any, ClassVar

from worker.nas.spaces import vit_encoding
from worker.nas.spaces.base import DecisionValue, SearchSpace
from worker.nas.spaces.steps import chain_graph, totals
from worker.nas.spaces.vit_cost import block_token, trace
from worker.nas.spaces.vit_genome import Block, normalise, repair_offspring
from worker.nas.spaces.vit_options import ViTOptions
from worker.nas.types import Genome

# Mutations and how often each is picked (among those possible): mostly the blocks.
MUTATIONS = {"add": 2, "remove": 2, "block": 4, "dim": 1, "patch": 1, "stem": 1, "pool": 1, "dropout": 1}


class ViTSpace(SearchSpace):
    name: ClassVar[str] = "vit"
    Options: ClassVar[type[ViTOptions]] = ViTOptions
    description: ClassVar[str] = (
        "Small vision transformers: patch or conv stem, attention or token-MLP blocks, cls or mean pooling"
    )
    options: ViTOptions

    # --- operators -------------------------------------------------------------------------------------
    def sample(self, rng: random.Random) -> Genome:
        o = self.options
        dim = rng.choice(o.dims)
        stem: dict[str, Any] = {"type": rng.choice(o.stems), "patch": rng.choice(o.patches)}
        if stem["type"] == "conv":
            stem["channels"] = rng.choice(o.stem_channels)
        blocks = [self._random_block(dim, rng) for _ in range(rng.randint(o.min_blocks, o.max_blocks))]
        genome = {
            "stem": stem,
            "dim": dim,
            "blocks": blocks,
            "pool": rng.choice(o.pools),
            "dropout": rng.choice(o.dropout_rates),
        }
        return self._repair(genome)

    def mutate(self, genome: Genome, rng: random.Random) -> Genome:
        """Add, remove or change a block, or change dim, patch, stem, pooling or dropout.

        Retries a few times so the child differs from its parent.
        """
        parent = self.validate(genome)
        key = self.canonical(parent)
        child = parent
        for _ in range(20):
            child = self._repair(self._mutate_once(parent, rng))
            if self.canonical(child) != key:
                break
        return child

    def crossover(self, a: Genome, b: Genome, rng: random.Random) -> tuple[Genome, Genome]:
        """One-point crossover over the block lists (each child keeps its first parent's stem, dim,
        pooling and dropout), then repair so heads divide the new dim.

        Cut pairs are limited to those keeping both children within [min_blocks, max_blocks]; the trivial
        pairs that just swap the block lists are avoided whenever another exists.
        """
        ga, gb = self.validate(a), self.validate(b)
        ba, bb = ga["blocks"], gb["blocks"]
        lo, hi = self.options.min_blocks, self.options.max_blocks
        pairs = [
            (i, j)
            for i in range(len(ba) + 1)
            for j in range(len(bb) + 1)
            if lo <= i + len(bb) - j <= hi and lo <= j + len(ba) - i <= hi
        ]
        proper = [(i, j) for i, j in pairs if (i, j) not in ((0, 0), (len(ba), len(bb)))]
        i, j = rng.choice(proper or pairs)
        return (
            self._repair({**ga, "blocks": ba[:i] + bb[j:]}),
            self._repair({**gb, "blocks": bb[:j] + ba[i:]}),
        )

    # --- identity --------------------------------------------------------------------------------------
    def validate(self, genome: Any) -> Genome:
        return normalise(genome, self.options, self.task)

    def canonical(self, genome: Genome) -> str:
        return json.dumps(self.validate(genome), sort_keys=True, separators=(",", ":"))

    # --- encodings -------------------------------------------------------------------------------------
    def decisions(self) -> list[int]:
        return vit_encoding.decisions(self.options)

    def decode(self, choices: list[int]) -> Genome:
        return vit_encoding.decode(choices, self.options, self.task)

    def encode(self, genome: Genome) -> list[int]:
        return vit_encoding.encode(genome, self.options, self.task)

    # --- description and cost --------------------------------------------------------------------------
    def to_graph(self, genome: Genome) -> dict[str, Any]:
        return chain_graph("vit", trace(self.validate(genome), self.task))

    def cost(self, genome: Genome) -> dict[str, float]:
        """Exact parameter count and FLOPs (FlopCounterMode convention, one sample) in closed form."""
        return totals(trace(self.validate(genome), self.task))

    def build(self, genome: Genome):
        from worker.nas.spaces.vit_net import ViTNetwork

        return ViTNetwork(self.validate(genome), self.task)

    def describe(self, genome: Genome) -> str:
        """E.g. 'C32P4-d64-A2r2-Mr4-cls-dr0.1': stem, width, blocks, pooling, dropout when not zero."""
        g = self.validate(genome)
        stem = g["stem"]
        parts = [(f"C{stem['channels']}" if stem["type"] == "conv" else "") + f"P{stem['patch']}"]
        parts += [f"d{g['dim']}", *(block_token(b) for b in g["blocks"]), g["pool"]]
        if g["dropout"]:
            parts.append(f"dr{g['dropout']:g}")
        return "-".join(parts)

    # --- analysis --------------------------------------------------------------------------------------
    def decision_features(self, genome: Genome) -> dict[str, DecisionValue]:
        """Stem, patch, width, pooling, dropout, block count, then each block's mixer and its settings
        (`block 2 heads` only where block 2 exists and is an attention block)."""
        g = self.validate(genome)
        stem = g["stem"]
        out: dict[str, DecisionValue] = {"stem": stem["type"], "patch": stem["patch"]}
        if stem["type"] == "conv":
            out["stem channels"] = stem["channels"]
        out.update({"dim": g["dim"], "pool": g["pool"], "dropout": g["dropout"], "blocks": len(g["blocks"])})
        for i, block in enumerate(g["blocks"], start=1):
            out.update({f"block {i} {k}": v for k, v in block.items()})
        return out

    # --- helpers ---------------------------------------------------------------------------------------
    def _repair(self, genome: Genome) -> Genome:
        return repair_offspring(genome, self.options, self.task)

    def _random_block(self, dim: int, rng: random.Random) -> Block:
        block: Block = {"mixer": rng.choice(self.options.mixers)}
        if block["mixer"] == "attention":
            block["heads"] = rng.choice([h for h in self.options.heads if dim % h == 0] or [1])
        block["mlp_ratio"] = rng.choice(self.options.mlp_ratios)
        return block

    def _other(self, grid: list[Any], current: Any, rng: random.Random) -> Any:
        others = [v for v in grid if v != current]
        return rng.choice(others) if others else current

    def _mutate_once(self, genome: Genome, rng: random.Random) -> Genome:
        o = self.options
        g = {**genome, "stem": dict(genome["stem"]), "blocks": [dict(b) for b in genome["blocks"]]}
        blocks = g["blocks"]
        ops = ["block", "dim", "patch", "stem", "pool", "dropout"]
        ops += ["add"] if len(blocks) < o.max_blocks else []
        ops += ["remove"] if len(blocks) > o.min_blocks else []
        op = rng.choices(ops, weights=[MUTATIONS[op] for op in ops])[0]
        if op == "add":
            blocks.insert(rng.randint(0, len(blocks)), self._random_block(g["dim"], rng))
        elif op == "remove":
            blocks.pop(rng.randrange(len(blocks)))
        elif op == "block":
            i = rng.randrange(len(blocks))
            field = rng.choice(["mixer", "mlp_ratio"] + (["heads"] if "heads" in blocks[i] else []))
            if field == "mixer":  # a fresh block of another mixer keeps the MLP
                fresh = self._random_block(g["dim"], rng)
                if fresh["mixer"] != blocks[i]["mixer"]:
                    blocks[i] = {**fresh, "mlp_ratio": blocks[i]["mlp_ratio"]}
            else:
                fits = [h for h in o.heads if g["dim"] % h == 0]
                grid = fits if field == "heads" else o.mlp_ratios
                blocks[i][field] = self._other(grid, blocks[i][field], rng)
        elif op == "dim":
            g["dim"] = self._other(o.dims, g["dim"], rng)
        elif op == "patch":
            g["stem"]["patch"] = self._other(o.patches, g["stem"]["patch"], rng)
        elif op == "stem":
            stem = g["stem"]
            if stem["type"] == "conv" and (len(o.stems) == 1 or rng.random() < 0.5):
                stem["channels"] = self._other(o.stem_channels, stem["channels"], rng)
            elif stem["type"] == "conv":
                g["stem"] = {"type": "patch", "patch": stem["patch"]}
            elif "conv" in o.stems:
                g["stem"] = {**stem, "type": "conv", "channels": rng.choice(o.stem_channels)}
        elif op == "pool":
            g["pool"] = self._other(o.pools, g["pool"], rng)
        else:
            g["dropout"] = self._other(o.dropout_rates, g["dropout"], rng)
        return g
