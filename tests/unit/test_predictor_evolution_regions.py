"""Predictor-evolution on NAS-Bench-201 cells: the surrogate and the dedup see what a cell computes (an
edge on no input-output path is `none`), and a stalled search proposes outside the incumbent's region."""

from __future__ import annotations

import random

from worker.nas.registry import strategy_class
from worker.nas.spaces.nb201 import NB201Space, format_arch
from worker.nas.types import Genome, Result

SPACE = NB201Space()


def cell(*ops: str) -> Genome:
    return {"arch": format_arch(list(ops))}


def effective(genome: Genome) -> tuple[int, ...]:
    return tuple(SPACE.effective_encode(genome))


def signature(genome: Genome) -> frozenset:
    return frozenset(SPACE.effective_features(SPACE.decision_features(genome)).values())


def test_cells_differing_only_on_dead_edges_encode_alike() -> None:
    # node 1 is unreachable (0→1 none), so edges 1→2 and 1→3 compute nothing whatever their op
    a = cell("none", "nor_conv_3x3", "nor_conv_1x1", "skip_connect", "avg_pool_3x3", "nor_conv_3x3")
    b = cell("none", "nor_conv_3x3", "skip_connect", "skip_connect", "nor_conv_3x3", "nor_conv_3x3")
    live_change = cell("none", "nor_conv_3x3", "nor_conv_1x1", "nor_conv_1x1", "avg_pool_3x3", "nor_conv_3x3")
    assert SPACE.encode(a) != SPACE.encode(b)
    assert effective(a) == effective(b)
    assert effective(a) != effective(live_change)  # edge 0→3 is live


def test_effective_encoding_is_the_effective_decisions() -> None:
    rng = random.Random(0)
    for _ in range(300):
        g = SPACE.sample(rng)
        decoded = SPACE.decode(list(effective(g)))
        assert SPACE.decision_features(decoded) == SPACE.effective_features(SPACE.decision_features(g))


def dead_edge_fitness(genome: Genome) -> Result:
    """A function of what the cell computes. Best with 0→1 and 0→2 `none` and 0→3 a 3x3 conv: the other
    three edges are then dead, so the optimum has equivalents that differ only there (and in the
    benchmark's canonical form)."""
    e = SPACE.ops(SPACE.decode(list(effective(genome))))  # what the cell computes: dead edges `none`
    f = (e[0] == "none") + (e[1] == "none") + 2.0 * (e[3] == "nor_conv_3x3")
    return Result(fitness=float(f), metrics={"val_accuracy": float(f)})


def run(options: dict, steps: int, seed: int = 0) -> list[Genome]:
    cls = strategy_class("predictor-evolution")
    strategy = cls(SPACE, cls.Options(**options), seed=seed)
    proposed = []
    for _ in range(steps):
        g = strategy.ask(1)[0]
        proposed.append(g)
        strategy.tell(g, dead_edge_fitness(g))
    return proposed


def test_no_proposal_computes_a_network_already_evaluated() -> None:
    for seed in range(3):
        proposed = run({"initial_samples": 8, "random_candidates": 20, "stall_queries": 0}, 60, seed)
        codes = [effective(g) for g in proposed]
        for i in range(8, len(codes)):  # past the random start, every proposal computes something new
            assert codes[i] not in codes[:i], f"seed {seed}: proposal {i} repeats an evaluated network"


def test_a_stall_makes_the_next_proposal_leave_the_incumbents_region() -> None:
    cls = strategy_class("predictor-evolution")
    opts = {"initial_samples": 8, "random_candidates": 20}
    best = cell(
        "nor_conv_3x3", "skip_connect", "nor_conv_3x3", "nor_conv_3x3", "skip_connect", "nor_conv_3x3"
    )
    rng = random.Random(1)
    # then 6 good cells of the same region (3x3 convs and skips only), 5 poor random ones
    region = [cell(*(rng.choice(["nor_conv_3x3", "skip_connect"]) for _ in range(6))) for _ in range(60)]
    region = list({g["arch"]: g for g in region if signature(g) == signature(best) and g != best}.values())[
        :6
    ]
    told = [best, *region, *(SPACE.sample(rng) for _ in range(5))]
    fitness = [10.0] + [9.0] * len(region) + [1.0] * 5

    def next_proposal(stall_queries: int, seed: int) -> Genome:
        strategy = cls(SPACE, cls.Options(**opts, stall_queries=stall_queries), seed=seed)
        for g, f in zip(told, fitness, strict=True):  # the best came first: 11 results without a better one
            strategy.tell(g, Result(fitness=f))
        return strategy.ask(1)[0]

    for seed in range(3):
        assert signature(next_proposal(0, seed)) == signature(best)  # no escape: the incumbent's region
        assert signature(next_proposal(11, seed)) != signature(best)
        assert signature(next_proposal(12, seed)) == signature(best)  # not stalled long enough yet


def test_escapes_come_once_per_stall_period() -> None:
    proposed = run({"initial_samples": 8, "random_candidates": 20, "stall_queries": 5}, 60)
    fitness = [dead_edge_fitness(g).fitness for g in proposed]
    escapes = 0
    for i in range(8, len(proposed)):
        first_best = max(range(i), key=lambda j: (fitness[j], -j))
        since = i - 1 - first_best
        if since >= 5 and since % 5 == 0:  # a stall period has passed: this proposal must escape
            assert signature(proposed[i]) != signature(proposed[first_best]), f"proposal {i}"
            escapes += 1
    assert escapes >= 3  # the optimum is found early, so the search stalls for the rest


def test_the_surrogate_compares_paths_only_while_the_search_is_stalled(monkeypatch) -> None:
    from worker.nas.strategies import predictor_evolution

    calls: list[bool] = []
    real_fit = predictor_evolution.HammingGP.fit

    def fit(self, choices, y, params=None, features=None, paths=None):
        calls.append(paths is not None)
        return real_fit(self, choices, y, params=params, features=features, paths=paths)

    monkeypatch.setattr(predictor_evolution.HammingGP, "fit", fit)
    cls = strategy_class("predictor-evolution")
    rng = random.Random(3)
    told = [SPACE.sample(rng) for _ in range(12)]
    for stall_queries, since_best, expected in ((5, 11, True), (12, 11, False), (5, 0, False)):
        strategy = cls(SPACE, cls.Options(initial_samples=8, stall_queries=stall_queries), seed=0)
        fitness = [1.0] * len(told)
        fitness[len(told) - 1 - since_best] = 2.0  # the best came `since_best` results ago
        for g, f in zip(told, fitness, strict=True):
            strategy.tell(g, Result(fitness=f))
        calls.clear()
        strategy.ask(1)
        assert calls == [expected], (stall_queries, since_best)
    strategy = cls(SPACE, cls.Options(initial_samples=8, stall_queries=5, path_features=False), seed=0)
    for g in told:
        strategy.tell(g, Result(fitness=1.0 if g is not told[0] else 2.0))
    calls.clear()
    strategy.ask(1)
    assert calls == [False]
