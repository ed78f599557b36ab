"""predictor-ranking: its linear surrogate, and that ranking a table's rows beats random on a front."""

from __future__ import annotations

import numpy as np
import pytest
from conditional_table import CHOICE_COLUMNS, write
from scipy.linalg import solve_triangular

from worker.nas.bench import bench_space, run_tabular_bench
from worker.nas.evaluation.tabular import TabularTable
from worker.nas.strategies.linear_surrogate import BayesianLinear


def test_linear_surrogate_recovers_a_linear_function_and_ignores_constant_features():
    rng = np.random.default_rng(0)
    x = np.hstack([rng.normal(size=(40, 5)), np.full((40, 1), 7.0)])  # last feature constant
    w = np.array([2.0, -1.0, 0.5, 0.0, 3.0, 0.0])
    model = BayesianLinear().fit(x, x @ w + 4.0)
    test = np.hstack([rng.normal(size=(20, 5)), np.full((20, 1), 7.0)])
    mu, sd = model.predict(test)
    assert np.allclose(mu, test @ w + 4.0, atol=0.05)
    assert (sd < 0.1).all()


def test_linear_surrogate_weight_space_prediction_equals_the_kernel_form():
    rng = np.random.default_rng(1)
    x, test = rng.normal(size=(30, 8)), rng.normal(size=(10, 8)) * 3
    model = BayesianLinear().fit(x, rng.normal(size=30))
    mu, sd = model.predict(test)
    z = model._standardise(test)
    ks = z @ model.x.T / model.ridge
    v = solve_triangular(model.chol, ks.T, lower=True)
    var = ((z * z).sum(axis=1) / model.ridge - (v * v).sum(axis=0)) * model.signal
    assert np.allclose(mu, model.mean + model.scale * ks @ model.alpha)
    assert np.allclose(sd, model.scale * np.sqrt(var))


def test_linear_surrogate_is_less_sure_far_from_its_data():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(25, 3))
    model = BayesianLinear().fit(x, x.sum(axis=1) + 0.3 * rng.normal(size=25))
    _, sd = model.predict(np.array([[0.0, 0.0, 0.0], [20.0, -20.0, 20.0]]))
    assert sd[1] > 5 * sd[0]


@pytest.mark.parametrize("costs", [["latency"], ["latency", "energy"]])
def test_predictor_ranking_finds_better_fronts_than_random_on_a_sparse_conditional_table(tmp_path, costs):
    path = write(tmp_path / "cond.csv", keep=0.8)
    table = TabularTable(path, "id", "loss", "loss", costs, CHOICE_COLUMNS)
    space = bench_space(table, "categorical")
    goals = ["minimize"] * (1 + len(costs))

    def mean_ratio(strategy: str) -> float:
        out = run_tabular_bench(table, space, strategy, {}, 20, 8, 0, costs, goals=goals, hv_margin=0.1)
        return out["hypervolume"]["ratio"]["mean"]

    ranked, random_ = mean_ratio("predictor-ranking"), mean_ratio("random")
    assert ranked > random_ + 0.02
    assert ranked > 0.97
