"""The Gaussian-process surrogate of predictor-guided evolution."""

from __future__ import annotations

import numpy as np

from worker.nas.strategies.surrogate import HammingGP


def _data(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    return rng.integers(0, 5, size=(n, 6)), rng.normal(size=(n, 1))


def test_surrogate_learns_a_target_that_only_a_free_feature_explains() -> None:
    rng = np.random.default_rng(0)
    x, f = _data(40, rng)
    x_new, f_new = _data(200, rng)
    y = np.tanh(f[:, 0])  # the decisions say nothing about it
    with_features = HammingGP().fit(x, y, features=f)
    mu, _ = with_features.predict(x_new, features=f_new)
    assert with_features.params[3] > 0  # the marginal likelihood gave the feature kernel a share
    assert np.corrcoef(mu, np.tanh(f_new[:, 0]))[0, 1] > 0.9
    blind, _ = HammingGP().fit(x, y).predict(x_new)
    assert abs(np.corrcoef(blind, np.tanh(f_new[:, 0]))[0, 1]) < 0.5


def test_surrogate_leaves_the_feature_kernel_out_when_the_decisions_explain_the_target() -> None:
    rng = np.random.default_rng(1)
    x, f = _data(60, rng)
    y = (x == 3).sum(axis=1).astype(float)  # additive in the decisions; the feature is noise
    gp = HammingGP().fit(x, y, features=f)
    x_new, f_new = _data(200, rng)
    mu, _ = gp.predict(x_new, features=f_new)
    assert np.corrcoef(mu, (x_new == 3).sum(axis=1))[0, 1] > 0.9


def test_surrogate_gives_path_counts_a_share_when_they_explain_the_target() -> None:
    rng = np.random.default_rng(2)
    x = rng.integers(0, 5, size=(60, 6))
    paths = rng.integers(0, 3, size=(60, 8)).astype(float)
    y = paths[:, 0] - paths[:, 1]  # the decisions say nothing about it
    gp = HammingGP().fit(x, y, paths=paths)
    assert gp.params[4] > 0  # the path dissimilarity got a share of the distance
    x_new = rng.integers(0, 5, size=(200, 6))
    p_new = rng.integers(0, 3, size=(200, 8)).astype(float)
    mu, _ = gp.predict(x_new, paths=p_new)
    assert np.corrcoef(mu, p_new[:, 0] - p_new[:, 1])[0, 1] > 0.5
    plain = HammingGP().fit(x, y)
    assert plain.params[4] == 0.0 and plain.paths is None


def test_bag_distance_is_a_share_of_the_counts() -> None:
    from worker.nas.strategies.surrogate import bag_distance

    a = np.array([[1.0, 1.0, 0.0], [0.0, 0.0, 0.0]])
    d = bag_distance(a, a)
    assert d[0, 0] == 0.0 and d[1, 1] == 0.0 and d[0, 1] == 1.0
    assert bag_distance(np.array([[2.0, 0.0]]), np.array([[1.0, 1.0]]))[0, 0] == 0.5
