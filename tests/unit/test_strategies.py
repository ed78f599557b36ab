"""Every strategy on closed-form toys: reaches the optimum, resumes exactly, never repeats a network,
survives failed candidates and keeps a JSON state."""

from __future__ import annotations

import json

import pytest
from strategy_toys import ToySpace, matches, onemax_result, run_search

from worker.nas.objectives import Objective, Term
from worker.nas.registry import strategy_class
from worker.nas.strategies.base import SpaceExhausted
from worker.nas.types import Result

STRATEGIES = [
    "genetic",
    "regularized-evolution",
    "nsga2",
    "reinforce",
    "predictor-evolution",
    "predictor-ranking",
]
TARGET = [3, 1, 0, 2, 3, 1]
# Small options so the toys stay fast; defaults are exercised by the benchmark script.
FAST = {
    "genetic": {"population_size": 10},
    "regularized-evolution": {"population_size": 10, "sample_size": 5},
    "nsga2": {"population_size": 10},
    "reinforce": {"hidden_size": 16},
    "predictor-evolution": {"initial_samples": 8, "random_candidates": 20},
    "predictor-ranking": {"initial_samples": 8, "pool_size": 200},
}


def make(name: str, space: ToySpace, seed: int = 0, options: dict | None = None, **kwargs):
    cls = strategy_class(name)
    return cls(space, cls.Options(**{**FAST[name], **(options or {})}), seed=seed, **kwargs)


def flaky(evaluate):
    """Every third evaluation fails, as a crashed training run would."""
    calls = {"n": 0}

    def wrapped(genome):
        calls["n"] += 1
        if calls["n"] % 3 == 0:
            return Result(status="failed", error="simulated crash")
        return evaluate(genome)

    return wrapped


@pytest.mark.parametrize("name", STRATEGIES)
def test_strategy_reaches_optimum_of_matching_positions(name: str) -> None:
    budget = {"reinforce": 200, "predictor-evolution": 120, "predictor-ranking": 120}.get(name, 300)
    strategy = make(name, ToySpace())
    proposed = run_search(strategy, onemax_result(TARGET), budget)
    assert max(matches(g, TARGET) for g in proposed) == len(TARGET)
    assert strategy.best()[1].fitness == len(TARGET)


@pytest.mark.parametrize("name", STRATEGIES)
def test_strategy_resumed_from_json_state_continues_identically(name: str) -> None:
    space, k = ToySpace(), 23  # k falls mid-generation for the generational strategies
    evaluate = onemax_result(TARGET)

    def evaluate_with_failures(genome):
        return Result(status="failed", error="x") if genome["x"][0] == 0 else evaluate(genome)

    whole = run_search(make(name, space), evaluate_with_failures, 2 * k)
    first = make(name, space)
    head = run_search(first, evaluate_with_failures, k)
    state = json.loads(json.dumps(first.state_dict()))
    resumed = make(name, space, seed=12345)  # a different seed: everything must come from the state
    resumed.load_state_dict(state)
    tail = run_search(resumed, evaluate_with_failures, k)
    assert head + tail == whole


@pytest.mark.parametrize("name", STRATEGIES)
def test_strategy_never_proposes_a_duplicate_or_isomorph(name: str) -> None:
    space = ToySpace(length=3, arity=3, swap_symmetric=True)  # 27 genomes, 18 distinct networks
    strategy = make(name, space)
    evaluate = onemax_result([2, 1, 0])
    keys = []
    with pytest.raises(SpaceExhausted):
        for _ in range(100):
            genome = strategy.ask(1)[0]
            keys.append(space.canonical(genome))
            strategy.tell(genome, evaluate(genome))
    assert len(keys) == len(set(keys)) == 18


@pytest.mark.parametrize("name", STRATEGIES)
def test_strategy_survives_failed_candidates(name: str) -> None:
    strategy = make(name, ToySpace())
    always_failing = run_search(strategy, lambda g: Result(status="failed", error="boom"), 15)
    assert len(always_failing) == 15
    proposed = run_search(strategy, flaky(onemax_result(TARGET)), 60)
    assert len({ToySpace().canonical(g) for g in always_failing + proposed}) == 75
    json.dumps(strategy.state_dict())


@pytest.mark.parametrize("name", STRATEGIES)
def test_strategy_ask_many_gives_distinct_genomes(name: str) -> None:
    space = ToySpace()
    strategy = make(name, space)
    run_search(strategy, onemax_result(TARGET), 12)
    batch = strategy.ask(7)
    assert len({space.canonical(g) for g in batch}) == 7
    assert all(strategy.is_new(g) is False for g in batch)  # claimed: no later ask repeats them


@pytest.mark.parametrize("name", STRATEGIES)
def test_strategy_options_all_have_defaults_and_descriptions(name: str) -> None:
    options = strategy_class(name).Options
    options()  # every field has a default
    for field, info in options.model_fields.items():
        assert info.description, f"{name}.{field} has no description"


def two_objective_toy():
    """f1 = matches with A, f2 = matches with B; A and B differ everywhere, so the Pareto front is every
    genome built from A's and B's values only, with f1 + f2 = length."""
    a, b = [0, 0, 0, 0, 0, 0], [1, 1, 1, 1, 1, 1]
    objective = Objective([Term("f1", "maximize"), Term("f2", "maximize")])

    def evaluate(genome):
        metrics = {"f1": float(matches(genome, a)), "f2": float(matches(genome, b))}
        return Result(fitness=objective.fitness(metrics), metrics=metrics)

    return objective, evaluate


def test_nsga2_front_reaches_the_true_pareto_front_of_two_objective_toy() -> None:
    objective, evaluate = two_objective_toy()
    strategy = make("nsga2", ToySpace(arity=3), objective=objective)
    run_search(strategy, evaluate, 300)
    front = strategy.pareto_front()
    points = {(r.metrics["f1"], r.metrics["f2"]) for _, r in front}
    assert points == {(float(i), float(6 - i)) for i in range(7)}


def constrained_toy():
    """Accuracy vs params with `max_params: 6`, params known for free: (objective, space, evaluate)."""
    objective = Objective([Term("val_accuracy", "maximize"), Term("params", "minimize")], {"max_params": 6})
    space = ToySpace()

    def evaluate(genome):
        metrics = {"val_accuracy": float(matches(genome, TARGET)), **space.cost(genome)}
        return Result(fitness=objective.fitness(metrics), metrics=metrics)

    return objective, space, evaluate


def test_nsga2_never_proposes_a_genome_free_metrics_prove_infeasible() -> None:
    objective, space, evaluate = constrained_toy()
    strategy = make("nsga2", space, objective=objective, free_metrics=space.cost)
    proposed = run_search(strategy, evaluate, 80)
    assert all(sum(g["x"]) <= 6 for g in proposed)
    best = max((r.metrics["val_accuracy"] for _, r in strategy.pareto_front()), default=0)
    assert best >= 4  # still searching well inside the constraint


def test_reinforce_mlp_policy_and_improvement_reward_reach_optimum() -> None:
    cls = strategy_class("reinforce")
    options = cls.Options(policy="mlp", reward="improvement", hidden_size=16)
    proposed = run_search(cls(ToySpace(), options, seed=1), onemax_result(TARGET), 200)
    assert max(matches(g, TARGET) for g in proposed) == len(TARGET)


def test_reinforce_records_reward_baseline_and_entropy_per_update_in_its_state() -> None:
    strategy = make("reinforce", ToySpace())
    evaluate = flaky(onemax_result(TARGET))
    run_search(strategy, evaluate, 30)
    steps = json.loads(json.dumps(strategy.state_dict()))["extra"]["steps"]
    assert len(steps) == 20  # one row per successful result; the 10 failures update nothing
    assert [row["step"] for row in steps] == list(range(1, 21))
    assert all(0 <= row["reward"] <= len(TARGET) for row in steps)
    assert all(row["entropy"] > 0 for row in steps)  # a policy over 4 choices, not yet collapsed
    assert steps[0]["baseline"] == steps[0]["reward"]  # the first result seeds the moving average


def test_genetic_roulette_selection_reaches_optimum() -> None:
    cls = strategy_class("genetic")
    strategy = cls(ToySpace(), cls.Options(selection="roulette", population_size=10), seed=2)
    proposed = run_search(strategy, onemax_result(TARGET), 300)
    assert max(matches(g, TARGET) for g in proposed) == len(TARGET)


def test_options_reject_bad_values_naming_the_field() -> None:
    with pytest.raises(ValueError, match="selection"):
        strategy_class("genetic").Options(selection="best")
    with pytest.raises(ValueError, match="population_size"):
        strategy_class("regularized-evolution").Options(population_size=0)


@pytest.mark.parametrize("cost_features", [False, True])
def test_predictor_evolution_with_free_costs_reaches_the_true_pareto_front(cost_features: bool) -> None:
    objective, evaluate = two_objective_toy()
    b = [1, 1, 1, 1, 1, 1]
    free = lambda genome: {"f2": float(matches(genome, b))}  # noqa: E731 - known without "training"
    strategy = make(
        "predictor-evolution",
        ToySpace(arity=3),
        objective=objective,
        free_metrics=free,
        options={"cost_features": cost_features},
    )
    run_search(strategy, evaluate, 120)
    best_per_cost: dict[float, float] = {}
    for _, r in strategy.history:
        f2 = r.metrics["f2"]
        best_per_cost[f2] = max(best_per_cost.get(f2, -1.0), r.metrics["f1"])
    assert best_per_cost == {float(6 - i): float(i) for i in range(7)}


def test_predictor_evolution_fitness_turns_rank_like_a_single_objective_search() -> None:
    objective, evaluate = two_objective_toy()
    free = lambda genome: {"f2": float(matches(genome, [1] * 6))}  # noqa: E731
    cls = strategy_class("predictor-evolution")

    def proposals(fitness_every: int, free_metrics) -> list:
        opts = cls.Options(**{**FAST["predictor-evolution"], "fitness_every": fitness_every})
        strategy = cls(ToySpace(arity=3), opts, seed=3, objective=objective, free_metrics=free_metrics)
        return run_search(strategy, evaluate, 30)

    single = proposals(0, None)  # no free costs: the fitness ranks every proposal
    front_only = proposals(0, free)  # hypervolume turns only
    assert proposals(1, free) == single  # every proposal is a fitness turn
    assert front_only != single
    assert proposals(2, free) not in (single, front_only)  # both, interleaved


def test_predictor_evolution_never_proposes_a_genome_free_metrics_prove_infeasible() -> None:
    objective, space, evaluate = constrained_toy()
    strategy = make("predictor-evolution", space, objective=objective, free_metrics=space.cost)
    proposed = run_search(strategy, evaluate, 60)
    assert all(sum(g["x"]) <= 6 for g in proposed)
