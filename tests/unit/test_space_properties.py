"""Properties every registered search space must have, checked with hypothesis on several task shapes.

Spaces are loaded through the registry; a space whose module is not written yet is skipped (so this file
covers new spaces as soon as they land). Options shrink networks where a space allows it so builds stay
fast; a space whose options cannot be made from defaults or from SMALL_OPTIONS is skipped with a reason.
"""

from __future__ import annotations

import importlib
import json
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from worker.nas.registry import SPACES, space_class
from worker.nas.spaces.base import SearchSpace
from worker.nas.types import TaskShape

TASKS = {
    "1x8x8": TaskShape((1, 8, 8), 10),
    "1x28x28": TaskShape((1, 28, 28), 10),
    "3x32x32": TaskShape((3, 32, 32), 10),
}
# Option sets tested per space (default: the space's defaults). Small grids keep builds fast; the layers
# defaults and its flatten head are covered too.
OPTION_SETS: dict[str, dict[str, dict]] = {
    "layers": {
        "defaults": {},
        "small": {"filters": [4, 8, 16], "dense_units": [8, 16], "max_depth": 6},
        "flatten": {"filters": [4, 8], "dense_units": [8], "head": "flatten", "min_depth": 1, "max_depth": 5},
    },
    "nb201": {"small": {"C": 4, "N": 1}},
    # vit: the defaults, and grids that force repairs (heads not dividing 30, patch 16 on 8x8, padding by 3).
    "vit": {
        "defaults": {},
        "repairs": {"dims": [20, 30], "patches": [3, 16], "min_blocks": 2, "max_blocks": 4},
    },
    "categorical": {
        "free": {"choices": {"op": ["a", "b", "c"], "width": ["8", "16"], "fixed": ["x"]}},
        "table": {
            "choices": {"op": ["a", "b", "c"], "width": ["8", "16"]},
            "allowed": [{"op": "a", "width": "8"}, {"op": "b", "width": "16"}, {"op": "c", "width": "16"}],
        },
    },
}
PROPERTY_SETTINGS = settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
seeds = st.integers(min_value=0, max_value=2**32 - 1)


def _space_or_skip(name: str, options: dict, task: TaskShape) -> SearchSpace:
    module = SPACES[name].partition(":")[0]
    try:
        importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name == module:
            pytest.skip(f"space {name!r}: module {module} not written yet")
        raise
    cls = space_class(name)
    try:
        return cls(cls.Options.model_validate(options), task)
    except ValidationError as exc:
        pytest.skip(f"space {name!r} needs options this test does not give (add them to OPTION_SETS): {exc}")


CASES = [
    (name, label, task)
    for name in SPACES
    for label in OPTION_SETS.get(name, {"defaults": {}})
    for task in TASKS
]


@pytest.fixture(scope="module", params=CASES, ids=lambda case: "-".join(case))
def space(request: pytest.FixtureRequest) -> SearchSpace:
    name, label, task = request.param
    return _space_or_skip(name, OPTION_SETS.get(name, {"defaults": {}})[label], TASKS[task])


def _model_or_none(space: SearchSpace, genome: dict):
    """The built network, or None for a tabular-only space (its build raises NotImplementedError)."""
    try:
        return space.build(genome)
    except NotImplementedError:
        return None


def _check_genome(space: SearchSpace, genome: dict) -> None:
    assert space.validate(genome) == genome, "operators must return genomes already in normal form"
    key = space.canonical(genome)
    assert space.canonical(json.loads(json.dumps(genome))) == key
    choices = space.encode(genome)
    cards = space.decisions()
    assert len(choices) == len(cards) and all(0 <= c < n for c, n in zip(choices, cards, strict=True))
    assert space.canonical(space.decode(choices)) == key


def _check_forward(space: SearchSpace, genome: dict) -> None:
    import torch

    model = _model_or_none(space, genome)
    if model is None:
        return
    torch.set_num_threads(1)
    with torch.no_grad():
        out = model.eval()(torch.randn(2, *space.task.input_shape))
    assert tuple(out.shape) == (2, space.task.n_classes)
    assert torch.isfinite(out).all()


@PROPERTY_SETTINGS
@given(seed=seeds)
def test_sampled_genomes_are_valid_round_trip_and_build(space: SearchSpace, seed: int) -> None:
    genome = space.sample(random.Random(seed))
    _check_genome(space, genome)
    _check_forward(space, genome)


@PROPERTY_SETTINGS
@given(seed=seeds)
def test_mutated_genomes_are_valid_round_trip_and_build(space: SearchSpace, seed: int) -> None:
    rng = random.Random(seed)
    child = space.mutate(space.sample(rng), rng)
    _check_genome(space, child)
    _check_forward(space, child)


@PROPERTY_SETTINGS
@given(seed=seeds)
def test_crossed_genomes_are_valid_round_trip_and_build(space: SearchSpace, seed: int) -> None:
    rng = random.Random(seed)
    a, b = space.sample(rng), space.sample(rng)
    for child in space.crossover(a, b, rng):
        _check_genome(space, child)
        _check_forward(space, child)


@PROPERTY_SETTINGS
@given(data=st.data())
def test_any_choice_vector_decodes_to_a_valid_genome(space: SearchSpace, data: st.DataObject) -> None:
    choices = [data.draw(st.integers(0, n - 1)) for n in space.decisions()]
    genome = space.decode(choices)
    assert space.validate(genome) == genome
    assert space.canonical(space.decode(space.encode(genome))) == space.canonical(genome)


@settings(max_examples=10, deadline=None, derandomize=True)
@given(seed=seeds)
def test_cost_params_equal_the_built_models_parameter_count(space: SearchSpace, seed: int) -> None:
    from worker.nas.flops import count_params

    genome = space.sample(random.Random(seed))
    model = _model_or_none(space, genome)
    if model is None:
        return  # tabular-only: costs come from the table
    assert space.cost(genome)["params"] == count_params(model)


@settings(max_examples=10, deadline=None, derandomize=True)
@given(seed=seeds)
def test_graph_and_description_cover_the_genome(space: SearchSpace, seed: int) -> None:
    genome = space.sample(random.Random(seed))
    graph = space.to_graph(genome)
    ids = {node["id"] for node in graph["nodes"]}
    assert graph["nodes"] and all("label" in node for node in graph["nodes"])
    assert all(e["source"] in ids and e["target"] in ids for e in graph["edges"])
    assert isinstance(space.describe(genome), str) and space.describe(genome)
    json.dumps(graph)  # the dashboard receives it as JSON


@PROPERTY_SETTINGS
@given(seed=seeds)
def test_decision_features_name_plain_values(space: SearchSpace, seed: int) -> None:
    """What decision importance reads: names to JSON scalars, the same for a genome's normal form."""
    genome = space.sample(random.Random(seed))
    features = space.decision_features(genome)
    assert features and all(isinstance(k, str) and k for k in features)
    assert all(isinstance(v, str | int | float | bool) for v in features.values())
    assert json.loads(json.dumps(features)) == features
    assert space.decision_features(space.validate(json.loads(json.dumps(genome)))) == features
