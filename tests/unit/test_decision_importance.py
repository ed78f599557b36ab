"""Decision importance (worker/nas/importance.py): the spaces name their decisions, and a forest's
fANOVA decomposition finds the decisions a fitness really depends on, with their best and worst choice."""

from __future__ import annotations

import itertools
import random
from typing import Any

import numpy as np
import pytest

from worker.nas.importance import (
    MIN_CANDIDATES,
    NotEnoughData,
    UnsupportedSpace,
    decision_importance,
)
from worker.nas.spaces.categorical import CategoricalOptions, CategoricalSpace
from worker.nas.spaces.layers import LayersSpace
from worker.nas.spaces.nb201 import EDGES, OPS, NB201Space, live_edges
from worker.nas.spaces.vit import ViTSpace


def planted(ops: tuple[str, ...]) -> float:
    """Fitness planted on what two edges compute: conv3x3 on edge 2→3 is worth 3, anything but `none` on
    0→1 is worth 1 (an edge off every input-output path computes nothing, whatever its op)."""
    live = live_edges(ops)
    return 3.0 * (live[5] and ops[5] == "nor_conv_3x3") + 1.0 * live[0]


def nb201_scored(n: int, seed: int = 0, noise: float = 0.05) -> list[tuple[dict[str, Any], float]]:
    space, rng = NB201Space(), random.Random(seed)
    return [(g, planted(space.ops(g)) + rng.gauss(0, noise)) for g in (space.sample(rng) for _ in range(n))]


def exact_shares() -> dict[str, float]:
    """The planted fitness's first-order variance shares over all 15,625 cells."""
    cells = list(itertools.product(OPS, repeat=len(EDGES)))
    y = np.array([planted(c) for c in cells])
    out = {}
    for j, (t, s) in enumerate(EDGES):
        means = [y[[c[j] == op for c in cells]].mean() for op in OPS]
        out[f"edge {s}→{t}"] = float(np.var(means) / np.var(y))
    return out


def test_nb201_names_each_edge_by_source_and_target() -> None:
    genome = {"arch": "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_1x1~1|none~2|"}
    assert NB201Space().decision_features(genome) == {
        "edge 0→1": "nor_conv_3x3",
        "edge 0→2": "none",
        "edge 1→2": "skip_connect",
        "edge 0→3": "avg_pool_3x3",
        "edge 1→3": "nor_conv_1x1",
        "edge 2→3": "none",
    }


def test_planted_edges_rank_first_with_their_best_and_worst_choice() -> None:
    items = decision_importance(NB201Space(), nb201_scored(300), n_trees=24)
    top, second, *rest = items
    assert (top.decision, top.best_choice) == ("edge 2→3", "nor_conv_3x3")
    assert (second.decision, second.worst_choice) == ("edge 0→1", "none")
    exact = exact_shares()
    for item in items:
        assert item.importance == pytest.approx(exact[item.decision], abs=0.05), item.decision
    assert sum(it.importance for it in items) <= 1.0 + 1e-9


def test_an_edge_off_every_path_counts_as_none() -> None:
    # 0→1 and 1→2 are conv3x3, but node 1 feeds nothing that reaches the output (1→3 is none, 1→2 feeds
    # node 2 whose only way out, 2→3, is none): only 0→3 computes.
    arch = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|none~2|"
    features = NB201Space().decision_features({"arch": arch})
    assert NB201Space().effective_features(features) == {
        **{k: "none" for k in features},
        "edge 0→3": "skip_connect",
    }


def test_same_input_gives_the_same_answer() -> None:
    scored = nb201_scored(60, seed=3)
    first = decision_importance(NB201Space(), scored, n_trees=8)
    assert decision_importance(NB201Space(), scored, n_trees=8) == first


def test_layers_decisions_are_depth_and_each_layers_kind_and_fields() -> None:
    genome = {"layers": [{"type": "conv", "filters": 16}, {"type": "pool"}, {"type": "dense", "units": 32}]}
    features = LayersSpace().decision_features(genome)
    assert features["depth"] == 3
    assert (features["layer 1"], features["layer 1 filters"], features["layer 1 kernel"]) == ("conv", 16, 3)
    assert (features["layer 2"], features["layer 2 kind"]) == ("pool", "max")
    assert (features["layer 3"], features["layer 3 units"]) == ("dense", 32)
    assert "layer 2 filters" not in features and "layer 4" not in features


def test_layers_width_of_the_first_conv_is_found_as_an_ordered_decision() -> None:
    space, rng = LayersSpace(), random.Random(1)
    scored = []
    for _ in range(200):
        genome = space.sample(rng)  # the first layer is always a conv
        scored.append((genome, genome["layers"][0]["filters"] / 128 + rng.gauss(0, 0.02)))
    top = decision_importance(space, scored, n_trees=16)[0]
    assert (top.decision, top.best_choice, top.worst_choice) == ("layer 1 filters", 128, 8)
    assert top.importance > 0.8


def test_absent_decisions_are_a_choice_of_their_own() -> None:
    """Deeper is better: 'no layer 8' (None) is the worst choice of the slot 'layer 8'."""
    space, rng = LayersSpace(), random.Random(2)
    scored = [(g, len(g["layers"]) + rng.gauss(0, 0.1)) for g in (space.sample(rng) for _ in range(150))]
    by_name = {it.decision: it for it in decision_importance(space, scored, n_trees=16)}
    assert by_name["layer 8"].worst_choice is None
    assert by_name["depth"].best_choice == 8


def test_vit_and_categorical_name_their_decisions() -> None:
    vit = ViTSpace()
    features = vit.decision_features(vit.sample(random.Random(0)))
    assert {"stem", "patch", "dim", "pool", "dropout", "blocks", "block 1 mixer", "block 1 mlp_ratio"} <= set(
        features
    )
    cat = CategoricalSpace(CategoricalOptions(choices={"op": ["a", "b"], "width": ["8", "16"]}))
    assert cat.decision_features({"choices": {"op": "b", "width": "8"}}) == {"op": "b", "width": "8"}


def test_space_without_named_decisions_is_reported_unsupported() -> None:
    class Unnamed(NB201Space):
        def decision_features(self, genome: dict[str, Any]) -> dict[str, Any]:
            return super(NB201Space, self).decision_features(genome)  # the base: not implemented

    with pytest.raises(UnsupportedSpace, match="not available for this space"):
        decision_importance(Unnamed(), nb201_scored(20))


def test_too_few_candidates_or_no_variation_is_not_enough_data() -> None:
    with pytest.raises(NotEnoughData, match=f"at least {MIN_CANDIDATES}"):
        decision_importance(NB201Space(), nb201_scored(MIN_CANDIDATES - 1))
    scored = [(g, f) for g, f in nb201_scored(30)]
    with pytest.raises(NotEnoughData, match="same for every"):
        decision_importance(NB201Space(), [(g, 1.0) for g, _ in scored])
    with pytest.raises(NotEnoughData, match="no decision varies"):
        decision_importance(NB201Space(), [(scored[0][0], f) for _, f in scored])
    nan_padded = scored[:5] + [(g, float("nan")) for g, _ in scored[5:]]
    with pytest.raises(NotEnoughData, match="has 5"):
        decision_importance(NB201Space(), nan_padded)
