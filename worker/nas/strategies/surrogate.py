"""A Gaussian-process surrogate over a space's categorical decisions, in numpy.

Genomes are compared by the share of decisions on which they differ (a Hamming distance). The kernel
mixes an exponential kernel of that distance (any interaction between decisions) with the plain share of
equal decisions (an additive model: "option B at decision 3 is good" carries over to every genome that
has it). Length scale, mixture and noise are chosen by the marginal likelihood over a small grid, so the
model adapts to each landscape without hand tuning.

Spaces of cells can also describe a genome by its input-to-output paths (`SearchSpace.path_encode`: how
many paths carry each sequence of operations). Two cells that differ on several edges can still compute
much the same paths, which the Hamming distance misses; the GP then also compares genomes by the
Bray-Curtis dissimilarity of their path counts, mixed with the Hamming distance in a share (0, ½ or 1)
that the marginal likelihood picks. On NAS-Bench-201 it almost always picks the paths alone.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.linalg import cho_factor, cho_solve, solve_triangular
from scipy.stats import norm

LENGTH_SCALES = (0.1, 0.3, 1.0, 3.0)
ADDITIVE_SHARES = (0.0, 0.5)
NOISE_RATIOS = (1e-4, 1e-2, 1e-1)
# Share of a squared-exponential kernel over extra continuous features (standardised log costs), tried
# only when the caller has such features.
FEATURE_SHARES = (0.0, 0.5)
# Share of the path dissimilarity in the distance, tried only when the caller has path counts.
PATH_SHARES = (0.0, 0.5, 1.0)


def gaussian_ranks(y: Sequence[float]) -> np.ndarray:
    """Normal scores of the ranks: a monotone warp that keeps the order of the targets but stops a few
    collapsed networks (accuracy near chance) from dominating a fit meant to tell the good ones apart."""
    t = np.asarray(y, dtype=float)
    ranks = np.argsort(np.argsort(t, kind="stable"), kind="stable")
    return norm.ppf((ranks + 0.5) / len(t))


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Share of decisions that differ, for every pair of rows of two integer choice matrices."""
    return (a[:, None, :] != b[None, :, :]).mean(axis=2)


def bag_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Bray-Curtis dissimilarity (in [0, 1]) between rows of two non-negative count matrices: the share
    of the counts the two rows do not have in common; two empty rows are equal."""
    num = np.abs(a[:, None, :] - b[None, :, :]).sum(axis=2)
    den = a.sum(axis=1)[:, None] + b.sum(axis=1)[None, :]
    return np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)


def kernel(d: np.ndarray, length: float, additive: float) -> np.ndarray:
    return (1.0 - additive) * np.exp(-d / length) + additive * (1.0 - d)


def feature_kernel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Squared-exponential kernel (length 1) between rows of standardised feature matrices."""
    sq = ((a[:, None, :] - b[None, :, :]) ** 2).sum(axis=2)
    return np.exp(-0.5 * sq)


class HammingGP:
    def __init__(self) -> None:
        self.x: np.ndarray | None = None
        self.f: np.ndarray | None = None  # standardised extra features of the training rows
        self.f_mean = np.zeros(0)
        self.f_std = np.ones(0)
        self.alpha: np.ndarray | None = None
        self.chol: np.ndarray | None = None
        self.paths: np.ndarray | None = None  # path counts of the training rows
        self.params = (LENGTH_SCALES[0], ADDITIVE_SHARES[0], NOISE_RATIOS[0], 0.0, 0.0)
        self.mean = 0.0
        self.scale = 1.0
        self.signal = 1.0

    def fit(
        self,
        choices: Sequence[Sequence[int]],
        y: Sequence[float],
        params: tuple | None = None,
        features: np.ndarray | None = None,
        paths: np.ndarray | None = None,
    ) -> HammingGP:
        """Fit to the data; `params` (length, additive share, noise, feature share, path share) skips the
        grid search.

        `features` (one row per genome) are continuous figures known without training, such as log
        FLOPs; the marginal likelihood decides whether a kernel over them earns a share. `paths` (one
        row of non-negative counts per genome, `SearchSpace.path_encode`) add the path dissimilarity
        to the distance, in the share the marginal likelihood picks.
        """
        x = np.asarray(choices, dtype=np.int64)
        t = np.asarray(y, dtype=float)
        self.mean, self.scale = float(t.mean()), float(t.std()) or 1.0
        z = (t - self.mean) / self.scale
        dh = hamming(x, x)
        dp = None
        if paths is not None and np.asarray(paths).size:
            self.paths = np.asarray(paths, dtype=float)
            dp = bag_distance(self.paths, self.paths)
        else:
            self.paths = None
        kf = None
        if features is not None and np.asarray(features).size:
            f = np.asarray(features, dtype=float)
            self.f_mean, self.f_std = f.mean(axis=0), f.std(axis=0)
            self.f_std[self.f_std == 0] = 1.0
            self.f = (f - self.f_mean) / self.f_std
            kf = feature_kernel(self.f, self.f)
        shares = FEATURE_SHARES if kf is not None else (0.0,)
        path_shares = PATH_SHARES if dp is not None else (0.0,)
        grid = (
            [tuple(params) + (0.0,) * (5 - len(params))]
            if params
            else [
                (a, b, c, e, p)
                for p in path_shares
                for a in LENGTH_SCALES
                for b in ADDITIVE_SHARES
                for c in NOISE_RATIOS
                for e in shares
            ]
        )
        best = None
        distances: dict[float, np.ndarray] = {}
        for length, additive, noise, share, path_share in grid:
            if path_share not in distances:
                distances[path_share] = (
                    dh if not path_share or dp is None else (1.0 - path_share) * dh + path_share * dp
                )
            k = kernel(distances[path_share], length, additive)
            if share:
                k = (1.0 - share) * k + share * kf
            try:
                chol, _ = cho_factor(k + noise * np.eye(len(z)), lower=True)
            except np.linalg.LinAlgError:
                continue
            alpha = cho_solve((chol, True), z)
            signal = max(float(z @ alpha) / len(z), 1e-12)  # profiled signal variance
            # Negative log marginal likelihood at that signal variance (constants dropped).
            nll = 0.5 * len(z) * np.log(signal) + np.log(np.diag(chol)).sum()
            if best is None or nll < best[0]:
                best = (nll, (length, additive, noise, share, path_share), chol, alpha, signal)
        assert best is not None, "no kernel setting gave a positive-definite matrix"
        _, self.params, self.chol, self.alpha, self.signal = best
        self.x = x
        return self

    def predict(
        self,
        choices: Sequence[Sequence[int]],
        features: np.ndarray | None = None,
        paths: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and standard deviation, in the units of the fitted targets."""
        assert self.x is not None and self.chol is not None and self.alpha is not None
        length, additive, _, share, path_share = self.params
        d = hamming(np.asarray(choices, dtype=np.int64), self.x)
        if path_share:
            assert paths is not None and self.paths is not None, "fitted with paths: predict needs them"
            d = (1.0 - path_share) * d + path_share * bag_distance(np.asarray(paths, dtype=float), self.paths)
        ks = kernel(d, length, additive)
        if share:
            assert features is not None and self.f is not None, "fitted with features: predict needs them"
            f = (np.asarray(features, dtype=float) - self.f_mean) / self.f_std
            ks = (1.0 - share) * ks + share * feature_kernel(f, self.f)
        v = solve_triangular(self.chol, ks.T, lower=True)
        var = np.clip(1.0 - (v * v).sum(axis=0), 1e-12, None) * self.signal
        return self.mean + self.scale * (ks @ self.alpha), self.scale * np.sqrt(var)
