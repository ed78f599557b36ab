"""The categorical space on a sparse, conditional table: empty cells mean "not present"."""

from __future__ import annotations

import random

from conditional_table import CHOICE_COLUMNS, rows

from worker.nas.spaces.categorical import CategoricalSpace


def space(keep: float = 0.6) -> tuple[CategoricalSpace, list[dict[str, str]]]:
    table = [{c: r[c] for c in CHOICE_COLUMNS} for r in rows(keep)]
    choices = {c: list(dict.fromkeys(r[c] for r in table)) for c in CHOICE_COLUMNS}
    return CategoricalSpace(CategoricalSpace.Options(choices=choices, allowed=table)), table


def test_conditional_space_lists_exactly_its_rows():
    s, table = space()
    listed = s.genomes()
    assert sorted(s.canonical(g) for g in listed) == sorted(s.canonical({"choices": r}) for r in table)


def test_conditional_space_mutation_and_crossover_land_on_existing_rows_across_depths():
    s, table = space()
    rng, depths = random.Random(0), set()
    for _ in range(200):
        a, b = s.sample(rng), s.sample(rng)
        for child in (s.mutate(a, rng), *s.crossover(a, b, rng)):
            assert child["choices"] in table
            depths.add((a["choices"]["depth"], child["choices"]["depth"]))
    assert any(x != y for x, y in depths)  # depth changes too, filling or emptying per-layer columns


def test_absent_decisions_are_left_out_of_descriptions_and_decision_features():
    s, table = space()
    shallow = next(r for r in table if r["depth"] == "1")
    genome = {"choices": shallow}
    assert "k_2" not in s.describe(genome) and "k_1=" in s.describe(genome)
    assert set(s.decision_features(genome)) == {"width", "depth", "k_1"}
    assert all("k_3" not in n["label"] for n in s.to_graph(genome)["nodes"])


def test_features_give_numbers_with_absent_as_zero_and_one_hot_for_unconditional_columns():
    s, table = space()
    shallow = next(r for r in table if r["depth"] == "1")
    f = s.features({"choices": shallow})
    # width, depth and k_1 (present at every depth): number, then one-hot of their values;
    # k_2 and k_3 are conditional: number only, 0 where absent
    widths, depths = s.values["width"], s.values["depth"]
    expected = [float(shallow["width"]), *(float(shallow["width"] == v) for v in widths)]
    expected += [1.0, *(float(v == "1") for v in depths)]
    expected += [float(shallow["k_1"]), *(float(shallow["k_1"] == v) for v in s.values["k_1"])]
    expected += [0.0, 0.0]
    assert f == expected


def test_features_one_hot_a_column_that_is_not_numeric():
    s = CategoricalSpace(CategoricalSpace.Options(choices={"op": ["conv", "pool"], "w": ["8", "16", ""]}))
    assert s.features({"choices": {"op": "pool", "w": ""}}) == [0.0, 1.0, 0.0]
    assert s.features({"choices": {"op": "conv", "w": "16"}}) == [1.0, 0.0, 16.0]
