"""Predictor ranking: every step, a surrogate ranks all unseen genomes and the best-ranked one is proposed.

Made for sparse tables (HW-GPT-Bench: 10,000 rows out of ~10^12 architectures), where a mutated genome
seldom exists and snapping it to the nearest row makes evolution little better than random: here the
candidates are the rows themselves (`space.genomes()`), so every proposal exists and none is wasted.
Spaces that cannot list their genomes get `pool_size` fresh random samples per step instead.

The surrogate is a Bayesian linear model (`linear_surrogate`) over `space.features(genome)` and the log of
the free metrics (costs known without training, e.g. measured latency). With several objectives a
candidate's point is its optimistic prediction (mean + `exploration` × std) for the objectives that need
an evaluation, beside its exact free costs, and candidates are ranked by the hypervolume that point would
add to the front found so far. The reference lies 10 % of each axis's range beyond the worst of all
points (evaluated and candidate), so the front's two ends count as they do in a min/max-scaled score.
"""

from __future__ import annotations

import random
from typing import Any, ClassVar

import numpy as np
from pydantic import Field

from worker.nas.objectives import pareto_front
from worker.nas.strategies.base import Strategy, StrategyOptions
from worker.nas.strategies.hypervolume_gain import gains
from worker.nas.strategies.linear_surrogate import BayesianLinear
from worker.nas.strategies.multiobjective import feasible_for_free, free_metrics_of, result_vector
from worker.nas.types import Genome

REFERENCE_MARGIN = 0.1  # share of each axis's range between the worst point and the reference


class PredictorRankingOptions(StrategyOptions):
    initial_samples: int = Field(10, ge=2, le=10_000, description="random genomes before the surrogate")
    exploration: float = Field(
        1.0, ge=0.0, le=10.0, description="weight of the predicted standard deviation (optimism)"
    )
    pool_size: int = Field(
        2000, ge=1, le=100_000, description="random candidates per step if the space cannot list its genomes"
    )
    max_exact_gains: int = Field(
        300,
        ge=1,
        le=100_000,
        description="with 3+ objectives: candidates whose hypervolume gain is computed exactly (those with "
        "the largest optimistic boxes); the rest are ranked below them",
    )
    cost_features: bool = Field(True, description="also regress on log(1 + free metric) of each genome")


class PredictorRanking(Strategy):
    name: ClassVar[str] = "predictor-ranking"
    Options: ClassVar[type[StrategyOptions]] = PredictorRankingOptions
    description: ClassVar[str] = "Ranks every unseen genome (a table's rows) with a linear surrogate"
    multi_objective: ClassVar[bool] = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Derived data, not state: the space's listed genomes with their keys, features and free metrics.
        self._listed: tuple[list[Genome], list[str], np.ndarray, np.ndarray] | None = None
        self._free: list[str] | None = None

    # --- candidates --------------------------------------------------------------------------------------
    def _free_names(self) -> list[str]:
        """The objective's metrics known without training (judged on a sample genome)."""
        if self._free is None:
            self._free = []
            if self.objective is not None and self.free_metrics is not None:
                known = free_metrics_of(self, self.space.sample(random.Random(0))) or {}
                self._free = [t.metric for t in self.objective.terms if t.metric in known]
        return self._free

    def _describe(self, genomes: list[Genome]) -> tuple[np.ndarray, np.ndarray]:
        """Features (space features, then log free metrics) and free objective metrics (NaN: unknown)."""
        opts: PredictorRankingOptions = self.options  # type: ignore[assignment]
        names = self._free_names()
        free = np.full((len(genomes), len(names)), np.nan)
        for i, g in enumerate(genomes):
            metrics = free_metrics_of(self, g) or {}
            free[i] = [metrics.get(k, np.nan) for k in names]
        x = np.asarray([self.space.features(g) for g in genomes], dtype=float)
        if opts.cost_features and names:
            logs = np.log1p(np.clip(np.nan_to_num(free, nan=0.0), 0.0, None))
            x = np.hstack([x, logs])
        return x, free

    def _pool(self) -> tuple[list[Genome], np.ndarray, np.ndarray]:
        """Unseen, not provably infeasible candidates with their features and free metrics."""
        if self._listed is None:
            listed = self.space.genomes()
            if listed is not None:
                x, free = self._describe(listed)
                self._listed = (listed, [self.space.canonical(g) for g in listed], x, free)
        if self._listed is not None:
            genomes, keys, x, free = self._listed
            keep = [i for i, k in enumerate(keys) if k not in self.seen]
            if getattr(self.objective, "constraints", None):
                keep = [i for i in keep if feasible_for_free(self, genomes[i])]
            return [genomes[i] for i in keep], x[keep], free[keep]
        opts: PredictorRankingOptions = self.options  # type: ignore[assignment]
        fresh: dict[str, Genome] = {}
        for _ in range(opts.pool_size):
            g = self.space.sample(self.rng)
            key = self.space.canonical(g)
            if key not in self.seen and key not in fresh and feasible_for_free(self, g):
                fresh[key] = g
        pool = list(fresh.values())
        return (pool, *self._describe(pool)) if pool else ([], np.zeros((0, 0)), np.zeros((0, 0)))

    # --- the protocol ------------------------------------------------------------------------------------
    def ask(self, n: int = 1) -> list[Genome]:
        opts: PredictorRankingOptions = self.options  # type: ignore[assignment]
        done = [(g, r) for g, r in self.history if result_vector(self.objective, r) is not None]
        picks: list[Genome] = []
        if len(done) >= opts.initial_samples:
            pool, x, free = self._pool()
            if pool:
                x_done, _ = self._describe([g for g, _ in done])
                scores = self._front_scores(done, x_done, x, free, opts)
                if scores is None:
                    scores = self._scalar_scores(done, x_done, x, opts)
                order = np.argsort(-scores, kind="stable")
                picks = [self.claim(pool[i]) for i in order[:n]]
        while len(picks) < n:
            picks.append(self.novel(lambda: self.space.sample(self.rng)))
        return picks

    def _scalar_scores(self, done: list, x_done: np.ndarray, x: np.ndarray, opts: Any) -> np.ndarray:
        y = np.array([r.fitness for _, r in done], dtype=float)
        mu, sd = BayesianLinear().fit(x_done, y).predict(x)
        return mu + opts.exploration * sd

    def _front_scores(
        self, done: list, x_done: np.ndarray, x: np.ndarray, free: np.ndarray, opts: Any
    ) -> np.ndarray | None:
        """Optimistic hypervolume gain per candidate; None when the objective is single or some candidate
        lacks a free cost (then the fitness alone ranks)."""
        if not getattr(self.objective, "multi", False) or not np.isfinite(free).all():
            return None
        terms, names = self.objective.terms, self._free_names()
        done_pts = np.array([result_vector(self.objective, r) for _, r in done], dtype=float)
        cand = np.empty((len(x), len(terms)))
        unknown = []
        for i, t in enumerate(terms):
            if t.metric in names:
                cand[:, i] = t.oriented(free[:, names.index(t.metric)])
            else:
                unknown.append(i)
                mu, sd = BayesianLinear().fit(x_done, done_pts[:, i]).predict(x)
                cand[:, i] = mu + opts.exploration * sd
        both = np.vstack([done_pts, cand])
        span = both.max(axis=0) - both.min(axis=0)
        reference = both.min(axis=0) - REFERENCE_MARGIN * np.where(span > 0, span, 1.0)
        front = done_pts[pareto_front(done_pts)]
        # a candidate some front point weakly dominates adds nothing: skip the exact computation for it
        covered = (front[None, :, :] >= cand[:, None, :]).all(axis=2).any(axis=1)
        score = np.zeros(len(cand))
        open_ = np.flatnonzero(~covered)
        box = np.prod(cand[open_] - reference, axis=1)
        if len(terms) > 2 and len(open_) > opts.max_exact_gains:  # exact gains only for the largest boxes
            open_ = open_[np.argsort(-box, kind="stable")[: opts.max_exact_gains]]
        score[open_] = gains(front, cand[open_], reference)
        # ties (no gain anywhere) go to the optimistic first objective, too lightly weighted to matter else
        tie_break = cand[:, unknown].sum(axis=1) if unknown else cand[:, 0]
        return score + 1e-9 * (tie_break - tie_break.min())
