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
