"""Speed of the `layers` space's operations on Fashion-MNIST-shaped tasks (goal: cost() < 20 ms).

Times cost() (closed form), canonical(), sample/mutate/crossover, and, for comparison, counting the same
figures by building the torch model and running FlopCounterMode. Prints median / p95 / max per call.
`--check` exits 1 when the slowest cost() call takes 20 ms or more, or when the closed form disagrees with
the built model's count for any genome; the figures are printed either way.

    .venv/bin/python benchmarks/layers_space_speed.py [--genomes 300] [--seed 0] [--check]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable

from worker.nas.flops import count_flops, count_params
from worker.nas.spaces import make_space
from worker.nas.types import TaskShape


def timed(fn: Callable[[], object], repeats: int = 1) -> float:
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats * 1000.0


def report(name: str, ms: list[float]) -> float:
    """Print median / p95 / max of the per-call times; return the max."""
    ms = sorted(ms)
    p95 = ms[min(len(ms) - 1, int(0.95 * len(ms)))]
    print(f"{name:<34} median {statistics.median(ms):9.4f} ms   p95 {p95:9.4f} ms   max {ms[-1]:9.4f} ms")
    return ms[-1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--genomes", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--check", action="store_true", help="exit 1 when cost() takes >= 20 ms or miscounts")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    task = TaskShape((1, 28, 28), 10)
    space = make_space("layers", {}, task)
    rng = random.Random(args.seed)
    genomes = [space.sample(rng) for _ in range(args.genomes)]
    print(f"layers space, default options, task 1x28x28 -> 10, {len(genomes)} sampled genomes")

    cost_max = report("cost() closed form", [timed(lambda g=g: space.cost(g), 20) for g in genomes])
    report("canonical()", [timed(lambda g=g: space.canonical(g), 20) for g in genomes])
    report("sample()", [timed(lambda: space.sample(rng), 20) for _ in genomes])
    report("mutate()", [timed(lambda g=g: space.mutate(g, rng), 20) for g in genomes])
    report(
        "crossover()", [timed(lambda g=g: space.crossover(g, rng.choice(genomes), rng), 20) for g in genomes]
    )

    subset = genomes[: min(50, len(genomes))]

    def counted(g: dict) -> None:
        model = space.build(g)
        count_params(model)
        count_flops(model, task.input_shape)

    counted(subset[0])  # warm-up: the first FlopCounterMode call pays one-off import/dispatch costs
    report("build + FlopCounterMode (reference)", [timed(lambda g=g: counted(g)) for g in subset])
    mismatches = 0
    for g in subset:
        model = space.build(g)
        cost = space.cost(g)
        mismatches += cost != {"params": count_params(model), "flops": count_flops(model, task.input_shape)}
    print(f"closed form vs built model + FlopCounterMode: {len(subset) - mismatches}/{len(subset)} identical")
    params = sorted(space.cost(g)["params"] for g in genomes)
    print(
        f"params of sampled nets: min {params[0]:.0f}, median {statistics.median(params):.0f}, "
        f"max {params[-1]:.0f}; <= 25k: {sum(p <= 25_000 for p in params)}/{len(params)}"
    )
    met = cost_max < 20 and not mismatches
    print(f"slowest cost() {cost_max:.4f} ms — goal < 20 ms, exact counts: {'met' if met else 'NOT met'}")
    return 1 if args.check and not met else 0


if __name__ == "__main__":
    sys.exit(main())
