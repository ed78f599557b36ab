"""Curves over evaluations: best-so-far, hypervolume of the front so far, bands across repeated seeds."""

from __future__ import annotations

import random

import numpy as np
import pytest

from worker.nas.convergence import (
    Evaluation,
    band,
    best_so_far,
    hypervolume_curves,
    hypervolume_history,
    steps,
)
from worker.nas.objectives import Objective, Term, hypervolume, pareto_front, reference_point


def _prefix_volumes(points, reference):
    out = []
    for i in range(len(points)):
        seen = [p for p in points[: i + 1] if p is not None]
        out.append(hypervolume([seen[j] for j in pareto_front(seen)], reference) if seen else 0.0)
    return out


@pytest.mark.parametrize("k", [2, 3])
def test_hypervolume_history_equals_the_volume_of_every_prefix_front(k: int) -> None:
    rng = random.Random(k)
    # Small integer grid: many ties, duplicates, dominated points and points on the reference's edge.
    points = [
        None if rng.random() < 0.15 else tuple(float(rng.randint(0, 6)) for _ in range(k)) for _ in range(150)
    ]
    reference = (0.0,) * k
    assert hypervolume_history(points, reference) == pytest.approx(_prefix_volumes(points, reference))


def test_hypervolume_history_of_a_long_two_d_front_matches_moocore() -> None:
    x = np.random.default_rng(0).uniform(0, 1, 400)
    points = [(a, 1.0 - a) for a in x]  # every point joins the front
    history = hypervolume_history(points, (-0.1, -0.1))
    assert history == pytest.approx(_prefix_volumes(points, (-0.1, -0.1)), rel=1e-9)
    assert history == sorted(history)


def test_reference_point_lies_beyond_the_worst_point_so_extreme_points_count() -> None:
    points = [(0.9, -5e5), (0.6, -1e5), (0.7, -3e5)]
    ref = reference_point(points)
    assert ref == pytest.approx([0.6 - 0.003, -5e5 - 4e3])
    assert hypervolume([points[1]], ref) > 0 and hypervolume([points[0]], ref) > 0
    assert reference_point([(1.0, 2.0)]) == pytest.approx([0.99, 1.99])  # no range: moved out by 1.0


def test_term_natural_undoes_oriented() -> None:
    for term in (Term("params"), Term("val_accuracy", baseline=0.5), Term("val_loss", baseline=0.2)):
        assert term.natural(term.oriented(0.8)) == pytest.approx(0.8)


def test_best_so_far_skips_failed_and_unscored_evaluations() -> None:
    evals = [
        Evaluation("failed", None, None),
        Evaluation("done", 0.5, {}),
        Evaluation("infeasible", None, None),
        Evaluation("done", 0.4, {}),
        Evaluation("done", 0.7, {}),
    ]
    assert best_so_far(evals) == [None, 0.5, 0.5, 0.5, 0.7]


def test_steps_keep_the_changes_and_the_last_evaluation() -> None:
    assert steps([None, 0.5, 0.5, 0.5, 0.7, 0.7]) == [(1, None), (2, 0.5), (5, 0.7), (6, 0.7)]
    assert steps([]) == []


def test_band_gives_mean_sample_std_and_range_over_the_curves_that_reached_each_evaluation() -> None:
    curves = [[1.0, 2.0, 2.0, 4.0], [3.0, 3.0, 3.0], [None, 1.0, 1.0, 1.0]]
    points = {p.evaluation: p for p in band(curves)}
    assert sorted(points) == [1, 2, 4]  # nothing changes at evaluation 3
    assert points[1].n == 2 and points[1].mean == pytest.approx(2.0)
    assert points[1].std == pytest.approx(np.std([1.0, 3.0], ddof=1))
    assert (points[2].min, points[2].max, points[2].n) == (1.0, 3.0, 3)
    assert points[4].n == 2 and points[4].mean == pytest.approx(2.5)  # the second curve stopped at 3
    assert band([[5.0]])[0].std == 0.0


def test_hypervolume_curves_share_one_reference_so_runs_compare() -> None:
    objective = Objective([Term("val_accuracy"), Term("params")])

    def run(*pairs):
        return [Evaluation("done", a, {"val_accuracy": a, "params": p}) for a, p in pairs]

    good = run((0.9, 1e5), (0.95, 2e5))
    poor = run((0.6, 9e5), (0.7, 8e5))
    (hv_good, hv_poor), ref = hypervolume_curves(objective, [good, poor])
    assert ref == pytest.approx(reference_point([(0.9, -1e5), (0.95, -2e5), (0.6, -9e5), (0.7, -8e5)]))
    assert hv_good[-1] > hv_poor[-1] > 0
    # Alone, the poor run's own worst point is its reference: its volume is not comparable.
    ([alone], _) = hypervolume_curves(objective, [poor])
    assert alone[-1] != pytest.approx(hv_poor[-1])
    assert hypervolume_curves(objective, [run()]) == ([[]], None)
