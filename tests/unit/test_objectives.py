from __future__ import annotations

import random

import pytest

from worker.nas.objectives import Objective, Term, hypervolume, nondominated_sort, pareto_front
from worker.nas.spec import parse_spec


def test_weighted_sum_negates_minimized_metrics_and_subtracts_baseline():
    obj = Objective([("val_accuracy", "maximize", 1.0, 0.9), ("params", "minimize", 1e-6, None)])
    fit = obj.fitness({"val_accuracy": 0.93, "params": 200_000})
    assert fit == pytest.approx((0.93 - 0.9) - 0.2)
    assert obj.vector({"val_accuracy": 0.93, "params": 200_000}) == pytest.approx((0.03, -200_000))
    assert obj.multi and obj.names == ["val_accuracy", "params"]


def test_loss_and_f1_follow_their_natural_direction():
    obj = Objective([Term("val_loss"), Term("val_f1")])
    assert obj.vector({"val_loss": 0.5, "val_f1": 0.8}) == (-0.5, 0.8)
    assert obj.fitness({"val_loss": 0.2, "val_f1": 0.8}) > obj.fitness({"val_loss": 0.5, "val_f1": 0.8})


def test_fitness_is_none_when_a_constraint_is_violated_or_a_metric_missing():
    obj = Objective([("val_accuracy", "maximize", 1.0, None)], {"max_params": 1000, "max_flops": None})
    assert obj.fitness({"val_accuracy": 0.9, "params": 999}) == pytest.approx(0.9)
    assert obj.fitness({"val_accuracy": 0.9, "params": 1001}) is None
    assert not obj.feasible({"val_accuracy": 0.9})  # the bound cannot be checked
    assert obj.fitness({"params": 10}) is None


def test_objective_rejects_unknown_goal_and_constraint_naming_allowed_values():
    with pytest.raises(ValueError, match="allowed: maximize, minimize"):
        Objective([("val_accuracy", "biggest", 1.0, None)])
    with pytest.raises(ValueError, match="allowed: max_params, max_flops, max_latency_ms"):
        Objective([("val_accuracy",)], {"max_size": 3})


def test_from_spec_reads_objectives_constraints_and_default_goals():
    spec = parse_spec(
        {
            "space": {"type": "nb201"},
            "strategy": {"type": "random"},
            "objectives": [
                {"metric": "val_accuracy", "baseline": 0.5},
                {"metric": "val_loss", "weight": 0.1},
                {"metric": "flops", "goal": "maximize", "weight": 0.0},
            ],
            "constraints": {"max_latency_ms": 5},
        }
    )
    obj = Objective.from_spec(spec)
    metrics = {"val_accuracy": 0.75, "val_loss": 2.0, "flops": 1e6, "latency_ms": 4.0}
    assert obj.fitness(metrics) == pytest.approx(0.25 - 0.2)
    assert obj.vector(metrics) == pytest.approx((0.25, -2.0, 1e6))
    assert obj.fitness({**metrics, "latency_ms": 6.0}) is None


def test_pareto_front_and_nondominated_sort_agree_with_brute_force():
    rng = random.Random(0)
    pts = [(rng.randint(0, 9), rng.randint(0, 9)) for _ in range(60)]

    def dominated(p, q):
        return all(a <= b for a, b in zip(p, q, strict=True)) and p != q

    expected = sorted(i for i, p in enumerate(pts) if not any(dominated(p, q) for q in pts))
    assert pareto_front(pts) == expected
    fronts = nondominated_sort(pts)
    assert fronts[0] == expected
    assert sorted(i for f in fronts for i in f) == list(range(len(pts)))


def test_hypervolume_matches_a_hand_computed_two_d_case():
    # maximize both; reference (0, 0). Points (3,1), (2,2), (1,3): staircase area 3*1 + 2*1 + 1*1 = 6.
    assert hypervolume([(3, 1), (2, 2), (1, 3)], (0, 0)) == pytest.approx(6.0)
    # a dominated point and a point outside the reference box add nothing
    assert hypervolume([(3, 1), (2, 2), (1, 3), (1, 1), (5, -1)], (0, 0)) == pytest.approx(6.0)
    assert hypervolume([], (0, 0)) == 0.0
