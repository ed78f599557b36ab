from __future__ import annotations

import json
import random

import pytest

from worker.nas.spaces.categorical import CategoricalSpace

CHOICES = {"op": ["conv", "pool", "skip"], "width": ["8", "16", "32"], "depth": ["1", "2"]}
# a sparse table: 7 of the 18 combinations exist
ALLOWED = [
    {"op": "conv", "width": "8", "depth": "1"},
    {"op": "conv", "width": "16", "depth": "1"},
    {"op": "conv", "width": "32", "depth": "2"},
    {"op": "pool", "width": "8", "depth": "1"},
    {"op": "pool", "width": "32", "depth": "2"},
    {"op": "skip", "width": "16", "depth": "2"},
    {"op": "skip", "width": "8", "depth": "2"},
]


def space(allowed=ALLOWED) -> CategoricalSpace:
    return CategoricalSpace(CategoricalSpace.Options(choices=CHOICES, allowed=allowed))


def as_row(genome):
    return dict(genome["choices"])


def test_categorical_space_only_produces_allowed_rows():
    s, rng = space(), random.Random(0)
    for _ in range(300):
        a, b = s.sample(rng), s.sample(rng)
        produced = [a, s.mutate(a, rng), *s.crossover(a, b, rng)]
        produced.append(s.decode([rng.randrange(k) for k in s.decisions()]))
        for g in produced:
            assert as_row(g) in ALLOWED
            assert s.validate(json.loads(json.dumps(g))) == g


def test_categorical_mutation_changes_the_genome_and_prefers_one_column_neighbours():
    s, rng = space(), random.Random(1)
    start = {"choices": {"op": "conv", "width": "8", "depth": "1"}}
    seen = set()
    for _ in range(100):
        child = s.mutate(start, rng)
        assert child != start
        seen.add(s.canonical(child))
    # conv/8/1 has one-column neighbours conv/16/1 (width) and pool/8/1 (op); depth has none, so the
    # nearest rows differing in depth are used: conv/32/2 and skip/8/2 (two columns apart)
    expected = [
        {"op": "conv", "width": "16", "depth": "1"},
        {"op": "pool", "width": "8", "depth": "1"},
        {"op": "conv", "width": "32", "depth": "2"},
        {"op": "skip", "width": "8", "depth": "2"},
    ]
    assert seen == {s.canonical({"choices": c}) for c in expected}


def test_categorical_without_allowed_covers_every_combination():
    s, rng = space(allowed=None), random.Random(2)
    seen = {s.canonical(s.sample(rng)) for _ in range(500)}
    assert len(seen) == 18


def test_categorical_canonical_ignores_key_order_and_round_trips_encoding():
    s = space()
    a = {"choices": {"op": "pool", "width": "32", "depth": "2"}}
    b = {"choices": {"depth": "2", "width": "32", "op": "pool"}}
    assert s.canonical(a) == s.canonical(b)
    assert s.decode(s.encode(a)) == a
    assert s.decisions() == [3, 3, 2]


@pytest.mark.parametrize(
    ("genome", "needle"),
    [
        ({"choices": {"op": "conv", "width": "8"}}, "keys must be exactly: op, width, depth"),
        ({"choices": {"op": "mlp", "width": "8", "depth": "1"}}, "allowed: conv, pool, skip"),
        ({"choices": {"op": "skip", "width": "32", "depth": "1"}}, "not one of the allowed combinations"),
        ({"op": "conv"}, "expected {'choices'"),
    ],
)
def test_categorical_validate_names_the_bad_field_and_allowed_values(genome, needle):
    with pytest.raises(ValueError) as err:
        space().validate(genome)
    assert needle in str(err.value)


def test_categorical_options_reject_rows_outside_the_choices():
    with pytest.raises(ValueError, match="allowed.0..width"):
        CategoricalSpace.Options(choices=CHOICES, allowed=[{"op": "conv", "width": "64", "depth": "1"}])


def test_categorical_graph_is_a_labelled_chain_and_build_is_refused():
    s = space()
    g = {"choices": {"op": "conv", "width": "8", "depth": "1"}}
    graph = s.to_graph(g)
    assert [n["label"] for n in graph["nodes"]] == ["input", "op=conv", "width=8", "depth=1", "output"]
    assert [(e["source"], e["target"]) for e in graph["edges"]] == [(0, 1), (1, 2), (2, 3), (3, 4)]
    assert s.cost(g) == {}
    with pytest.raises(NotImplementedError, match="tabular"):
        s.build(g)
