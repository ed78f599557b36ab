"""Bayesian linear regression over numeric genome features: a surrogate cheap enough to rank every row of
a table (10,000 candidates per step) and, on smooth size-driven landscapes, far more accurate than a
Hamming kernel from few points (on HW-GPT-Bench, fitted to 60 random rows: Spearman 0.99 against 0.94 for
perplexity; within one embedding width 0.93 against 0.50).

It is a Gaussian process with the kernel x·x' / ridge on standardised features plus a constant; the ridge
strength and the noise share are chosen by the marginal likelihood over a small grid, as in `surrogate`.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import cho_factor, cho_solve, solve_triangular

RIDGES = (0.3, 1.0, 3.0, 10.0, 30.0, 100.0)  # prior precision of each standardised weight
NOISE_RATIOS = (1e-3, 1e-2, 1e-1, 0.3)


class BayesianLinear:
    def __init__(self) -> None:
        self.x: np.ndarray | None = None
        self.keep = np.zeros(0, dtype=bool)
        self.center = np.zeros(0)
        self.spread = np.ones(0)
        self.ridge = RIDGES[0]
        self.chol: np.ndarray | None = None
        self.alpha: np.ndarray | None = None
        self.mean, self.scale, self.signal = 0.0, 1.0, 1.0

    def _standardise(self, x: np.ndarray) -> np.ndarray:
        z = (x[:, self.keep] - self.center) / self.spread
        return np.hstack([z, np.ones((len(z), 1))])  # the constant carries the bias the mean misses

    def fit(self, features: np.ndarray, y: np.ndarray) -> BayesianLinear:
        x = np.asarray(features, dtype=float)
        t = np.asarray(y, dtype=float)
        self.keep = x.std(axis=0) > 0  # constant features carry nothing and would divide by zero
        self.center, self.spread = x[:, self.keep].mean(axis=0), x[:, self.keep].std(axis=0)
        self.mean, self.scale = float(t.mean()), float(t.std()) or 1.0
        z, target = self._standardise(x), (t - self.mean) / self.scale
        gram = z @ z.T
        best = None
        for ridge in RIDGES:
            for noise in NOISE_RATIOS:
                try:
                    chol, _ = cho_factor(gram / ridge + noise * np.eye(len(t)), lower=True)
                except np.linalg.LinAlgError:
                    continue
                alpha = cho_solve((chol, True), target)
                signal = max(float(target @ alpha) / len(t), 1e-12)  # profiled signal variance
                nll = 0.5 * len(t) * np.log(signal) + np.log(np.diag(chol)).sum()
                if best is None or nll < best[0]:
                    best = (nll, ridge, chol, alpha, signal)
        assert best is not None, "no ridge setting gave a positive-definite matrix"
        _, self.ridge, self.chol, self.alpha, self.signal = best
        self.x = z
        return self

    def predict(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and standard deviation of the noise-free value, in the units of the targets.

        Computed in weight space, with the standardisation folded into the weights, so ranking 10,000
        candidates is two small matrix products on the raw features.
        """
        assert self.x is not None and self.chol is not None and self.alpha is not None
        x = np.asarray(features, dtype=float)
        v = solve_triangular(self.chol, self.x, lower=True)  # K^-1/2 Z
        cov = (np.eye(self.x.shape[1]) - v.T @ v / self.ridge) / self.ridge  # weight posterior / signal
        # z = [x_kept, 1] @ m: fold the standardisation into a map from raw features (dropped rows: 0)
        m = np.zeros((x.shape[1] + 1, self.x.shape[1]))
        kept = np.flatnonzero(self.keep)
        m[kept, np.arange(len(kept))] = 1.0 / self.spread
        m[-1, :-1], m[-1, -1] = -self.center / self.spread, 1.0
        weights = m @ (self.x.T @ self.alpha / self.ridge)
        p = m @ cov @ m.T
        var = ((x @ p[:-1, :-1]) * x).sum(axis=1) + 2.0 * (x @ p[:-1, -1]) + p[-1, -1]
        mean = x @ weights[:-1] + weights[-1]
        return self.mean + self.scale * mean, self.scale * np.sqrt(np.clip(var * self.signal, 1e-12, None))
