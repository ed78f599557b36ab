"""The recipe space: the base space's genome plus the searched recipe values, every operator in bounds,
dedup and the encodings seeing the recipe, and strategies running on it unchanged."""

from __future__ import annotations

import hashlib
import math
import random
from typing import Any

import pytest

from worker.nas.factory import make_space, make_strategy
from worker.nas.objectives import Objective
from worker.nas.spaces.recipe import RecipeSpace, apply_recipe
from worker.nas.spec import SearchSpec, parse_spec
from worker.nas.types import Result, TaskShape

RECIPE = {
    "lr": {"log_uniform": [1.0e-4, 1.0e-2]},
    "batch_size": {"choices": [64, 128, 256]},
    "weight_decay": {"uniform": [0.0, 0.01]},
    "optimizer": {"choices": ["sgd", "adamw"]},
}


def spec_of(strategy: str = "regularized-evolution", space: str = "nb201", **extra: Any) -> SearchSpec:
    return parse_spec(
        {
            "space": {"type": space},
            "strategy": {"type": strategy},
            "training": RECIPE,
            "dataset": {"augment": {"choices": [True, False]}},
            **extra,
        }
    )


@pytest.fixture()
def space() -> RecipeSpace:
    s = make_space(spec_of())
    assert isinstance(s, RecipeSpace)
    return s


def in_bounds(recipe: dict[str, Any]) -> bool:
    return (
        1.0e-4 <= recipe["lr"] <= 1.0e-2
        and recipe["batch_size"] in (64, 128, 256)
        and 0.0 <= recipe["weight_decay"] <= 0.01
        and recipe["optimizer"] in ("sgd", "adamw")
        and recipe["augment"] in (True, False)
    )


def test_sample_mutate_and_crossover_keep_every_recipe_value_in_its_domain(space: RecipeSpace) -> None:
    rng = random.Random(0)
    pop = [space.sample(rng) for _ in range(30)]
    for _ in range(300):
        a, b = rng.sample(pop, 2)
        child = space.mutate(a, rng)
        c, d = space.crossover(a, b, rng)
        for g in (child, c, d):
            assert in_bounds(g["recipe"]), g["recipe"]
            assert space.validate(g) == g
        pop[rng.randrange(len(pop))] = child
    lrs = [g["recipe"]["lr"] for g in pop]
    assert len(set(lrs)) > 5  # drawn over the range, not a handful of points


def test_log_uniform_draws_spread_over_the_decades(space: RecipeSpace) -> None:
    rng = random.Random(1)
    logs = [math.log10(space.sample(rng)["recipe"]["lr"]) for _ in range(400)]
    below = sum(x < -3 for x in logs) / len(logs)
    assert 0.4 < below < 0.6  # half the draws in [1e-4, 1e-3): uniform in log space


def test_a_mutation_changes_the_network_or_exactly_one_recipe_value(space: RecipeSpace) -> None:
    rng = random.Random(2)
    kinds = set()
    for _ in range(200):
        g = space.sample(rng)
        m = space.mutate(g, rng)
        changed = [k for k in g["recipe"] if g["recipe"][k] != m["recipe"][k]]
        arch_changed = space.arch(g) != space.arch(m)
        assert (len(changed) == 1) != arch_changed
        kinds.add("recipe" if changed else "arch")
    assert kinds == {"recipe", "arch"}


def test_dedup_key_tells_the_same_network_with_another_recipe_apart(space: RecipeSpace) -> None:
    g = space.sample(random.Random(3))
    other = {**g, "recipe": {**g["recipe"], "batch_size": 256 if g["recipe"]["batch_size"] != 256 else 64}}
    assert space.canonical(g) != space.canonical(other)
    assert space.canonical(g) == space.canonical({**g, "recipe": dict(reversed(list(g["recipe"].items())))})


def test_validate_refuses_a_recipe_outside_its_domain_naming_the_field(space: RecipeSpace) -> None:
    g = space.sample(random.Random(4))
    with pytest.raises(ValueError, match="recipe.lr"):
        space.validate({**g, "recipe": {**g["recipe"], "lr": 0.5}})
    with pytest.raises(ValueError, match="recipe: keys"):
        space.validate({**g, "recipe": {"lr": 0.001}})
    with pytest.raises(ValueError, match="recipe"):
        space.validate(space.arch(g))  # a genome of the bare space


def test_encodings_cover_the_recipe(space: RecipeSpace) -> None:
    base_n = len(space.base.decisions())
    assert space.decisions()[base_n:] == [
        3,
        2,
        8,
        8,
        2,
    ]  # spec order: batch_size, optimizer, lr, weight_decay, augment
    rng = random.Random(5)
    for _ in range(50):
        g = space.sample(rng)
        code = space.encode(g)
        assert len(code) == len(space.decisions())
        assert space.encode(space.decode(code)) == code
        assert len(space.features(g)) == len(space.features(space.sample(rng)))
    features = space.decision_features(g)
    assert list(features)[:5] == ["batch_size", "optimizer", "lr", "weight_decay", "augment"]


def test_the_network_is_the_base_spaces_and_the_label_shows_the_recipe(space: RecipeSpace) -> None:
    g = space.sample(random.Random(6))
    assert space.cost(g) == space.base.cost(space.arch(g))
    assert space.to_graph(g) == space.base.to_graph(space.arch(g))
    assert f"batch_size={g['recipe']['batch_size']}" in space.describe(g)


def test_apply_recipe_gives_the_spec_a_candidate_trains_with() -> None:
    spec = spec_of()
    recipe = {"lr": 0.002, "batch_size": 64, "weight_decay": 0.001, "optimizer": "sgd", "augment": True}
    trained = apply_recipe(spec, {"arch": "x", "recipe": recipe})
    assert (trained.training.lr, trained.training.batch_size, trained.training.optimizer) == (
        0.002,
        64,
        "sgd",
    )
    assert trained.dataset.augment is True and trained.training.epochs == spec.training.epochs
    assert apply_recipe(spec, {"arch": "x"}) is spec


def closed_form(genome: dict[str, Any]) -> float:
    """A landscape where the recipe matters: lr near 1e-3 and batch 128 score best, plus arch noise."""
    r = genome["recipe"]
    h = int(hashlib.sha256(repr(sorted(genome.items())).encode()).hexdigest(), 16)
    return 1.0 - abs(math.log10(r["lr"]) + 3) / 2 - (r["batch_size"] != 128) * 0.2 + (h % 100) / 1000


@pytest.mark.parametrize(
    "strategy",
    ["regularized-evolution", "predictor-evolution", "reinforce", "nsga2", "genetic", "predictor-ranking"],
)
def test_a_strategy_searches_the_recipe_with_the_network(strategy: str) -> None:
    extra = {"objectives": [{"metric": "val_accuracy"}, {"metric": "params"}]} if strategy == "nsga2" else {}
    spec = spec_of(strategy, **extra)
    space = make_space(spec, TaskShape((1, 8, 8), 10))
    strat = make_strategy(spec, space, Objective.from_spec(spec))
    strat.free_metrics = space.cost
    keys, scores = set(), []
    for _ in range(40):
        g = strat.ask(1)[0]
        assert space.validate(g) == g and in_bounds(g["recipe"])
        key = space.canonical(g)
        assert key not in keys  # dedup holds with recipes in the key
        keys.add(key)
        acc = closed_form(g)
        scores.append(acc)
        metrics = {"val_accuracy": acc, **space.cost(g)}
        strat.tell(g, Result(fitness=Objective.from_spec(spec).fitness(metrics), metrics=metrics))
    if strategy in ("regularized-evolution", "predictor-evolution"):
        assert max(scores[20:]) > max(scores[:10])  # it learned something about the recipe too


def test_a_stored_float_choice_read_back_as_an_int_is_the_same_choice() -> None:
    space = make_space(
        parse_spec({"space": {"type": "nb201"}, "training": {"label_smoothing": {"choices": [0.0, 0.1]}}})
    )
    g = space.sample(random.Random(0))
    assert space.validate({**g, "recipe": {"label_smoothing": 0}})["recipe"] == {"label_smoothing": 0.0}
    augment = make_space(
        parse_spec({"space": {"type": "nb201"}, "dataset": {"augment": {"choices": [True, False]}}})
    )
    with pytest.raises(ValueError, match="recipe.augment"):
        augment.validate({**g, "recipe": {"augment": 1}})
