"""NAS-Bench-201 cell space: 6 edges of a 4-node DAG, each one of 5 operations.

Genome: `{"arch": "<arch_str>"}` in the benchmark's own string format, so a genome is directly a table key:
`|op~0|+|op~0|op~1|+|op~0|op~1|op~2|` (groups for nodes 1, 2, 3; `op~j` is the edge from node j).
The network (`build`) is the benchmark's: stem conv, three stages of N cells with residual reduction
blocks between them, BN-ReLU, global pooling and a linear classifier.
"""

from __future__ import annotations

import itertools
import random
from functools import lru_cache
from typing import Any

from pydantic import Field

from worker.nas.spaces.base import DecisionValue, SearchSpace, SpaceOptions
from worker.nas.types import Genome

OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
N_NODES = 4
# Edge order of the genome: (target, source) for targets 1..3, sources 0..target-1, as in arch_str.
EDGES: tuple[tuple[int, int], ...] = tuple((t, s) for t in range(1, N_NODES) for s in range(t))
ZERO = "#"  # a term that is identically zero (a `none` edge, or any op applied to a zero node)
# Sequences of computing operations along an input-to-output path (at most N_NODES - 1 edges).
COMPUTING_OPS = tuple(op for op in OPS if op not in ("none", "skip_connect"))
PATH_INDEX: dict[tuple[str, ...], int] = {
    seq: i
    for i, seq in enumerate(seq for n in range(N_NODES) for seq in itertools.product(COMPUTING_OPS, repeat=n))
}
CONV_KERNEL = {"nor_conv_1x1": 1, "nor_conv_3x3": 3}


def parse_arch(arch: str) -> tuple[str, ...]:
    """Ops of the 6 edges (in EDGES order) from an arch string; ValueError naming what is wrong."""
    if not isinstance(arch, str):
        raise ValueError(f"arch: expected a string like '|nor_conv_3x3~0|+|...|', got {type(arch).__name__}")
    return _parse_arch(arch)


@lru_cache(maxsize=65536)  # searches parse the same few thousand strings over and over (breeding pools)
def _parse_arch(arch: str) -> tuple[str, ...]:
    groups = arch.strip().split("+")
    if len(groups) != N_NODES - 1:
        raise ValueError(
            f"arch: expected {N_NODES - 1} '+'-separated node groups, got {len(groups)}: {arch!r}"
        )
    ops: list[str] = []
    for target, group in enumerate(groups, start=1):
        by_source: dict[int, str] = {}
        for item in (p for p in group.strip().split("|") if p):
            op, sep, src = item.partition("~")
            if not sep or not src.isdigit():
                raise ValueError(f"arch: edge {item!r} of node {target} is not 'op~source'")
            if op not in OPS:
                raise ValueError(f"arch: unknown op {op!r} on node {target}; allowed: {', '.join(OPS)}")
            s = int(src)
            if s >= target or s in by_source:
                raise ValueError(f"arch: node {target} needs one edge from each of nodes 0..{target - 1}")
            by_source[s] = op
        if len(by_source) != target:
            raise ValueError(f"arch: node {target} needs one edge from each of nodes 0..{target - 1}")
        ops.extend(by_source[s] for s in range(target))
    return tuple(ops)


def format_arch(ops: tuple[str, ...] | list[str]) -> str:
    """The benchmark's arch string for 6 edge ops given in EDGES order."""
    if len(ops) != len(EDGES) or any(op not in OPS for op in ops):
        raise ValueError(f"arch: need {len(EDGES)} ops, each one of: {', '.join(OPS)}")
    groups, i = [], 0
    for target in range(1, N_NODES):
        groups.append("|" + "|".join(f"{ops[i + s]}~{s}" for s in range(target)) + "|")
        i += target
    return "+".join(groups)


def live_edges(ops: tuple[str, ...]) -> tuple[bool, ...]:
    """Per edge (EDGES order): whether it lies on a path of non-`none` edges from input to output."""
    reached = {0}  # nodes the input reaches
    for (target, source), op in zip(EDGES, ops, strict=True):
        if op != "none" and source in reached:
            reached.add(target)
    feeds = {N_NODES - 1}  # nodes that reach the output
    for (target, source), op in sorted(zip(EDGES, ops, strict=True), key=lambda e: -e[0][0]):
        if op != "none" and target in feeds:
            feeds.add(source)
    return tuple(
        op != "none" and source in reached and target in feeds
        for (target, source), op in zip(EDGES, ops, strict=True)
    )


@lru_cache(maxsize=65536)
def canonical_arch(arch: str) -> str:
    """The expression the output node computes, with every sum's terms sorted.

    Skip edges pass their input's expression through; conv/pool edges wrap it as `(expr)@op`; a `none`
    edge, or an op fed by a node that is exactly zero, gives the zero term `#`. This follows the
    benchmark's own notion of isomorphism (its `unique_str`): zero terms stay in the sum and an op fed
    by a sum of zeros is not simplified, so it yields the same 6,466 classes over the 15,625 cells.
    """
    ops = parse_arch(arch)
    exprs = ["0"]
    i = 0
    for target in range(1, N_NODES):
        terms = []
        for source in range(target):
            op, inp = ops[i + source], exprs[source]
            if op == "none" or inp == ZERO:
                terms.append(ZERO)
            elif op == "skip_connect":
                terms.append(inp)
            else:
                terms.append(f"({inp})@{op}")
        i += target
        exprs.append("+".join(sorted(terms)))
    return exprs[-1]


class NB201Options(SpaceOptions):
    C: int = Field(16, ge=1, le=1024, description="channels of the first stage (doubled per stage)")
    N: int = Field(5, ge=1, le=50, description="cells per stage")


class NB201Space(SearchSpace):
    name = "nb201"
    Options = NB201Options
    description = "NAS-Bench-201 cell: 6 edges x {none, skip, conv1x1, conv3x3, avgpool3x3}"
    options: NB201Options

    # --- operators -------------------------------------------------------------------------------------
    def sample(self, rng: random.Random) -> Genome:
        return {"arch": format_arch([rng.choice(OPS) for _ in EDGES])}

    def mutate(self, genome: Genome, rng: random.Random) -> Genome:
        ops = list(self.ops(genome))
        edge = rng.randrange(len(EDGES))
        ops[edge] = rng.choice([op for op in OPS if op != ops[edge]])
        return {"arch": format_arch(ops)}

    def crossover(self, a: Genome, b: Genome, rng: random.Random) -> tuple[Genome, Genome]:
        """Uniform crossover over the 6 edges; the second child takes the other parent's op everywhere."""
        pa, pb = self.ops(a), self.ops(b)
        take_a = [rng.random() < 0.5 for _ in EDGES]
        c1 = [x if t else y for x, y, t in zip(pa, pb, take_a, strict=True)]
        c2 = [y if t else x for x, y, t in zip(pa, pb, take_a, strict=True)]
        return {"arch": format_arch(c1)}, {"arch": format_arch(c2)}

    # --- identity --------------------------------------------------------------------------------------
    def ops(self, genome: Genome) -> tuple[str, ...]:
        if not isinstance(genome, dict) or "arch" not in genome:
            raise ValueError("genome: expected {'arch': '<arch_str>'}")
        return parse_arch(genome["arch"])

    def validate(self, genome: Any) -> Genome:
        if isinstance(genome, dict) and set(genome) - {"arch"}:
            raise ValueError(f"genome: unknown keys {sorted(set(genome) - {'arch'})}; allowed: arch")
        return {"arch": format_arch(self.ops(genome))}

    def canonical(self, genome: Genome) -> str:
        return canonical_arch(genome["arch"])

    # --- encodings -------------------------------------------------------------------------------------
    def decisions(self) -> list[int]:
        return [len(OPS)] * len(EDGES)

    def decode(self, choices: list[int]) -> Genome:
        if len(choices) != len(EDGES) or any(not 0 <= c < len(OPS) for c in choices):
            raise ValueError(f"choices: need {len(EDGES)} indices in 0..{len(OPS) - 1}, got {choices}")
        return {"arch": format_arch([OPS[c] for c in choices])}

    def encode(self, genome: Genome) -> list[int]:
        return [OPS.index(op) for op in self.ops(genome)]

    def effective_encode(self, genome: Genome) -> list[int]:
        """An edge off every input-to-output path of non-`none` edges encodes as `none`."""
        ops = self.ops(genome)
        return [OPS.index(op if on else "none") for op, on in zip(ops, live_edges(ops), strict=True)]

    def path_encode(self, genome: Genome) -> list[float]:
        """Counts of input-to-output paths per sequence of computing operations (conv 1x1, conv 3x3,
        pool; `skip_connect` adds nothing to a sequence, a `none` edge cuts the path): 40 counts, the
        sequences of length 0 to 3 in a fixed order."""
        ops = self.ops(genome)
        op_of = {edge: op for edge, op in zip(EDGES, ops, strict=True)}
        counts = [0.0] * len(PATH_INDEX)
        stack: list[tuple[int, tuple[str, ...]]] = [(0, ())]
        while stack:  # depth-first over the DAG's paths from the input node
            node, seq = stack.pop()
            if node == N_NODES - 1:
                counts[PATH_INDEX[seq]] += 1.0
                continue
            for target in range(node + 1, N_NODES):
                op = op_of[(target, node)]
                if op != "none":
                    stack.append((target, seq if op == "skip_connect" else (*seq, op)))
        return counts

    # --- description and cost --------------------------------------------------------------------------
    def to_graph(self, genome: Genome) -> dict[str, Any]:
        labels = ["input"] + [f"node {i}" for i in range(1, N_NODES - 1)] + ["output"]
        ops = self.ops(genome)
        return {
            "kind": "cell",
            "nodes": [{"id": i, "label": labels[i]} for i in range(N_NODES)],
            "edges": [
                {"source": s, "target": t, "label": op}
                for (t, s), op in zip(EDGES, ops, strict=True)
                if op != "none"
            ],
        }

    def cost(self, genome: Genome) -> dict[str, float]:
        """Parameters and FLOPs of the full network in closed form.

        FLOPs count multiply-accumulates of convolutions and the classifier (plus its bias), as the
        benchmark does; pooling, BN and ReLU count zero. Matches the table's params/FLOPs columns.
        """
        ops = self.ops(genome)
        c_in, h, w = self.task.input_shape
        c, n = self.options.C, self.options.N
        params = c_in * c * 9 + 2 * c  # stem conv + BN
        flops = h * w * c_in * c * 9
        for stage in range(3):
            width = c * 2**stage
            if stage:  # residual reduction block: two 3x3 convs (first strided) and a 1x1 shortcut conv
                prev = width // 2
                h, w = (h + 1) // 2, (w + 1) // 2
                params += 9 * prev * width + 9 * width * width + 4 * width + prev * width
                flops += h * w * (9 * prev * width + 9 * width * width + prev * width)
            for op in ops:
                if op in CONV_KERNEL:
                    k2 = CONV_KERNEL[op] ** 2
                    params += n * (k2 * width * width + 2 * width)
                    flops += n * h * w * k2 * width * width
        last = 4 * c
        classes = self.task.n_classes
        params += 2 * last + last * classes + classes
        flops += last * classes + classes
        return {"params": float(params), "flops": float(flops)}

    def build(self, genome: Genome):
        from worker.nas.spaces.nb201_net import NB201Network

        return NB201Network(self.ops(genome), self.options.C, self.options.N, self.task)

    def describe(self, genome: Genome) -> str:
        return genome["arch"]

    # --- analysis --------------------------------------------------------------------------------------
    def decision_features(self, genome: Genome) -> dict[str, DecisionValue]:
        """Each edge's operation, named `edge <source>→<target>` (nodes 0 input .. 3 output)."""
        return {f"edge {s}→{t}": op for (t, s), op in zip(EDGES, self.ops(genome), strict=True)}

    maps_effective_features = True

    def effective_features(self, features: dict[str, DecisionValue]) -> dict[str, DecisionValue]:
        """An edge off every input-to-output path of non-`none` edges computes nothing: `none`."""
        names = [f"edge {s}→{t}" for t, s in EDGES]
        if not all(n in features for n in names):
            return features
        live = live_edges(tuple(str(features[n]) for n in names))
        return {**features, **{n: "none" for n, on in zip(names, live, strict=True) if not on}}
