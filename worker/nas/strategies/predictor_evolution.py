"""Predictor-guided evolution: evolution whose offspring are screened by a learned surrogate first.

After a few random genomes, every step fits a Gaussian process (`surrogate.HammingGP`) to all evaluated
genomes over the space's decision encoding, breeds a large pool of unseen candidates (mutants and crosses
of the best genomes so far, plus random samples) and proposes the best-ranked one. Breeding costs
nothing; only the chosen genome spends budget.

Once a single-objective search has gone `stall_queries` results without a better fitness (and until it
finds one), the surrogate also compares genomes by their input-to-output paths where the space has them
(`SearchSpace.path_encode`, cells such as NAS-Bench-201's): the Hamming distance over decisions sees
two cells that differ on four edges as far apart even when they compute much the same paths, so a search
stuck in one basin rates the others poorly. On NAS-Bench-201 this took the runs that end on the best
cell from 81 to 95 of 100 (mean test accuracy at 100 queries 94.267 → 94.360); used from the start it
slowed the first 50 queries (94.140 instead of 94.199 at 50), so the local Hamming view keeps the lead
while the search still improves.

With several objectives and free metrics (costs known without training) a candidate's point is its
optimistic predicted accuracy beside its exact costs, and candidates are ranked by the hypervolume that
point would add to the front found so far. Every `fitness_every`-th proposal is instead ranked by the
fitness alone, bred from the fittest parents: the front's most accurate end, where the widest slices of
hypervolume lie, then gets as sharp a search as a single-objective run (on NAS-Bench-201 this raised the
mean hypervolume ratio from 0.974 to 0.980). Free metrics that prove a hard constraint broken remove a
candidate before any budget is spent.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar, Literal, NamedTuple

import numpy as np
from pydantic import Field
from scipy.stats import norm

from worker.nas.objectives import pareto_front, reference_point
from worker.nas.strategies.base import Strategy, StrategyOptions
from worker.nas.strategies.hypervolume_gain import gains
from worker.nas.strategies.multiobjective import feasible_for_free, free_metrics_of, result_vector
from worker.nas.strategies.surrogate import HammingGP, gaussian_ranks
from worker.nas.types import Genome

EI_QUANTILES = 16  # points per candidate when averaging the hypervolume gain over its predicted spread
FEASIBLE_TRIES = 200  # random draws per initial genome before accepting one the free metrics cannot judge
MAX_ROUNDS = 20  # breeding rounds for an escape's larger pool (a small space may not have that many)


class Identity(NamedTuple):
    canonical: str  # the dedup key of `seen`
    code: list[int]  # effective encoding: what the surrogate compares
    signature: str  # the region a stall escapes from
    paths: tuple[float, ...] | None  # path counts (`SearchSpace.path_encode`), where the space has them


class PredictorEvolutionOptions(StrategyOptions):
    initial_samples: int = Field(20, ge=2, le=10_000, description="random genomes before the surrogate")
    parents: int = Field(10, ge=1, le=1000, description="best evaluated genomes that breed candidates")
    mutants_per_parent: int = Field(20, ge=1, le=1000, description="mutated candidates bred from each parent")
    crossovers: int = Field(20, ge=0, le=10_000, description="candidates bred by crossing two parents")
    random_candidates: int = Field(50, ge=0, le=100_000, description="random candidates per step")
    rank_warp: bool = Field(
        True, description="fit the surrogate to normal scores of the fitness ranks instead of raw values"
    )
    acquisition: Literal["ucb", "ei"] = Field(
        "ucb", description="ranking of candidates: upper confidence bound or expected improvement"
    )
    exploration: float = Field(
        1.0, ge=0.0, le=10.0, description="weight of the predicted standard deviation (UCB, and fronts)"
    )
    # Off by default: on NAS-Bench-201 with FLOPs as the free metric it did not help (30 seeds, hypervolume
    # ratio 0.976 against 0.977) and costs ~15 % more time.
    cost_features: bool = Field(
        False,
        description="let the surrogate also compare genomes by their free metrics (log params, FLOPs, ...)"
        " where every genome has them; the marginal likelihood decides how much that counts",
    )
    fitness_every: int = Field(
        2,
        ge=0,
        le=1000,
        description="with several objectives, every k-th proposal is ranked by the fitness alone, from the "
        "fittest parents (0 = never): the front's most accurate end gets a single-objective search",
    )
    path_features: bool = Field(
        True,
        description="single objective, where the space describes a genome by its input-to-output paths "
        "(cells): once `stall_queries` results bring no better fitness, and until one does, the "
        "surrogate also compares genomes by their paths (a global view that finds other basins); the "
        "marginal likelihood decides how much that counts",
    )
    stall_queries: int = Field(
        10,
        ge=0,
        le=10_000,
        description="after this many results without a better fitness (and again after each further as "
        "many), one fitness-ranked proposal escapes the incumbent's region (0 = never)",
    )
    escape_candidates: int = Field(
        500,
        ge=1,
        le=100_000,
        description="bred candidates an escape proposal is picked from, keeping only those whose signature "
        "(the set of operations the network computes) differs from the best genome's",
    )


class PredictorEvolution(Strategy):
    name: ClassVar[str] = "predictor-evolution"
    Options: ClassVar[type[StrategyOptions]] = PredictorEvolutionOptions
    description: ClassVar[str] = "Evolution whose offspring are ranked by a Gaussian-process surrogate"
    multi_objective: ClassVar[bool] = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # canonical form, effective encoding and signature per genome: every step re-encodes hundreds of
        # candidates and all evaluated genomes, and parsing a genome can dominate the cost. Derived data,
        # not state.
        self._memo: dict[Any, Identity] = {}

    def _identity(self, genome: Genome) -> Identity:
        try:  # flat genomes (str/number values) hash as they are; nested ones go through JSON
            key: Any = tuple((k, type(v), v) for k, v in sorted(genome.items()))  # 1, 1.0, True differ
            hit = self._memo.get(key)
        except TypeError:
            key = json.dumps(genome, sort_keys=True)
            hit = self._memo.get(key)
        if hit is None:
            if len(self._memo) > 200_000:
                self._memo.clear()
            code = self.space.effective_encode(genome)
            paths = getattr(self.space, "path_encode", lambda _: None)(genome)
            hit = self._memo[key] = Identity(
                self.space.canonical(genome),
                code,
                self._signature(genome, code),
                tuple(paths) if paths is not None else None,
            )
        return hit

    def _signature(self, genome: Genome, code: list[int]) -> str:
        """The set of operations the network computes (its effective decisions' values): networks that
        share it lie in one region of the space. Spaces that do not name their decisions: the encoding."""
        try:
            values = self.space.effective_features(self.space.decision_features(genome)).values()
        except NotImplementedError:
            return json.dumps(code)
        return json.dumps(sorted({str(v) for v in values}))

    def ask(self, n: int = 1) -> list[Genome]:
        opts: PredictorEvolutionOptions = self.options  # type: ignore[assignment]
        done = [(g, r) for g, r in self.history if r.ok]
        fitness_turn = opts.fitness_every > 0 and len(done) % opts.fitness_every == 0
        multi = self._multi() and not fitness_turn
        escape = not multi and self._stalled(done, opts)
        pool = []
        if len(done) >= opts.initial_samples:
            pool = self._candidates(done, opts, multi, opts.escape_candidates if escape else 0)
        if escape and pool:  # leave the incumbent's region: only candidates computing other operations
            home = self._identity(max(done, key=lambda gr: gr[1].fitness)[0]).signature
            pool = [g for g in pool if self._identity(g).signature != home] or pool
        if not pool:
            return [self._random() for _ in range(n)]
        encoded = [self._identity(g).code for g in pool]
        scores = self._front_scores(done, pool, encoded, opts) if multi else None
        if scores is None:
            scores = self._scalar_scores(done, pool, encoded, opts, paths=self._paths_now(done, opts))
        order = np.argsort(-scores, kind="stable")
        picks = [self.claim(pool[i]) for i in order[:n]]
        while len(picks) < n:  # fewer candidates than asked for
            picks.append(self._random())
        return picks

    def _paths_now(self, done: list, opts: PredictorEvolutionOptions) -> bool:
        """Whether the surrogate also compares by paths now: single objective, `path_features` on, and
        `stall_queries` or more results since the best so far (until a better one)."""
        if not opts.path_features or not opts.stall_queries or not done or self._multi():
            return False
        best = max(range(len(done)), key=lambda i: (done[i][1].fitness, -i))  # the first of the best
        return len(done) - 1 - best >= opts.stall_queries

    def _stalled(self, done: list, opts: PredictorEvolutionOptions) -> bool:
        """Whether this proposal escapes: `stall_queries` results (and each further as many) since the best.

        With several objectives only every `fitness_every`-th proposal is fitness-ranked, so the escape
        may fall on any of that many consecutive counts, and the first fitness turn among them takes it."""
        if not opts.stall_queries or not done:
            return False
        best = max(range(len(done)), key=lambda i: (done[i][1].fitness, -i))  # the first of the best
        since = len(done) - 1 - best
        window = opts.fitness_every if self._multi() and opts.fitness_every > 1 else 1
        return since >= opts.stall_queries and (since - opts.stall_queries) % opts.stall_queries < window

    def _random(self) -> Genome:
        for _ in range(FEASIBLE_TRIES):
            g = self.space.sample(self.rng)
            if self.is_new(g) and feasible_for_free(self, g):
                return self.claim(g)
        return self.novel(lambda: self.space.sample(self.rng))

    def _multi(self) -> bool:
        return (
            self.objective is not None and getattr(self.objective, "multi", False) and bool(self.free_metrics)
        )

    # --- ranking -----------------------------------------------------------------------------------------
    def _paths(self, genomes: list[Genome], opts: PredictorEvolutionOptions) -> np.ndarray | None:
        """Path counts per genome, or None when off or when some genome has none."""
        if not opts.path_features:
            return None
        rows = [self._identity(g).paths for g in genomes]
        if not rows or any(r is None for r in rows):
            return None
        return np.array(rows, dtype=float)

    def _feature_pair(
        self, evaluated: list[Genome], pool: list[Genome], opts: PredictorEvolutionOptions
    ) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Surrogate features of the evaluated genomes and of the candidates: both, or neither."""
        f_done, f_pool = self._features(evaluated, opts), self._features(pool, opts)
        return (f_done, f_pool) if f_done is not None and f_pool is not None else (None, None)

    def _features(self, genomes: list[Genome], opts: PredictorEvolutionOptions) -> np.ndarray | None:
        """log(1 + free metric) per genome, or None when off or when some genome has no free metrics."""
        if not opts.cost_features or self.free_metrics is None:
            return None
        rows = [free_metrics_of(self, g) for g in genomes]
        if not rows or any(not r for r in rows):
            return None
        names = sorted(rows[0])
        try:
            f = np.array([[float(r[k]) for k in names] for r in rows])
        except KeyError:
            return None
        if not np.isfinite(f).all() or (f < 0).any():
            return None
        return np.log1p(f)

    def _scalar_scores(
        self,
        done: list,
        pool: list[Genome],
        encoded: list,
        opts: PredictorEvolutionOptions,
        paths: bool = False,
    ) -> np.ndarray:
        raw = np.array([r.fitness for _, r in done], dtype=float)
        targets = gaussian_ranks(raw) if opts.rank_warp else raw
        f_done, f_pool = self._feature_pair([g for g, _ in done], pool, opts)
        p_done = p_pool = None
        if paths:
            p_done, p_pool = self._paths([g for g, _ in done], opts), self._paths(pool, opts)
            if p_done is None or p_pool is None:
                p_done = p_pool = None
        gp = HammingGP().fit(
            [self._identity(g).code for g, _ in done], targets, features=f_done, paths=p_done
        )
        mu, sd = gp.predict(encoded, features=f_pool, paths=p_pool)
        if opts.acquisition == "ei":
            gap = mu - targets.max()
            return gap * norm.cdf(gap / sd) + sd * norm.pdf(gap / sd)
        return mu + opts.exploration * sd

    def _front_scores(
        self, done: list, pool: list[Genome], encoded: list, opts: PredictorEvolutionOptions
    ) -> np.ndarray | None:
        """Hypervolume gain of each candidate's optimistic point; None when costs are not all free."""
        terms = self.objective.terms
        rows = [(g, r.metrics) for g, r in done if result_vector(self.objective, r) is not None]
        free = [free_metrics_of(self, g) for g in pool]
        if len(rows) < 2 or any(f is None for f in free):
            return None
        unknown = [i for i, t in enumerate(terms) if t.metric not in free[0]]
        if not unknown:
            return None
        x_done = [self._identity(g).code for g, _ in rows]
        f_done, f_pool = self._feature_pair([g for g, _ in rows], pool, opts)
        front_pts = np.array([[t.oriented(m.get(t.metric, np.nan)) for t in terms] for _, m in rows])
        cand_pts = np.empty((len(pool), len(terms)))
        spread = np.zeros((len(pool), len(terms)))
        for i, t in enumerate(terms):
            if i in unknown:  # predicted, on the rank-warped scale of the evaluated values
                warped = gaussian_ranks(front_pts[:, i]) if opts.rank_warp else front_pts[:, i]
                gp = HammingGP().fit(x_done, warped, features=f_done)
                mu, sd = gp.predict(encoded, features=f_pool)
                front_pts[:, i], cand_pts[:, i], spread[:, i] = warped, mu, sd
            else:
                cand_pts[:, i] = [t.oriented(f.get(t.metric, np.nan)) for f in free]
        if not np.isfinite(cand_pts).all() or not np.isfinite(front_pts).all():
            return None
        front = front_pts[pareto_front(front_pts)]
        reference = reference_point(np.vstack([front_pts, cand_pts + opts.exploration * spread]))
        if opts.acquisition == "ei":  # expected gain over fixed quantiles of the predictive distribution
            quantiles = norm.ppf((np.arange(EI_QUANTILES) + 0.5) / EI_QUANTILES)
            gain = np.mean([gains(front, cand_pts + q * spread, reference) for q in quantiles], axis=0)
        else:
            gain = gains(front, cand_pts + opts.exploration * spread, reference)
        cand_pts = cand_pts + opts.exploration * spread
        # Candidates that add nothing are still ordered, by optimistic accuracy, with a weight too small
        # to overturn any real gain.
        tie_break = cand_pts[:, unknown].sum(axis=1)
        return gain + 1e-9 * (tie_break - tie_break.min())

    # --- breeding ----------------------------------------------------------------------------------------
    def _parents(self, done: list, opts: PredictorEvolutionOptions, multi: bool) -> list[Genome]:
        ranked = [g for g, _ in sorted(done, key=lambda gr: -gr[1].fitness)[: opts.parents]]
        if not multi:
            return ranked
        scored = [(g, result_vector(self.objective, r)) for g, r in done]
        scored = [(g, v) for g, v in scored if v is not None]
        if not scored:
            return ranked
        front = [scored[i][0] for i in pareto_front([v for _, v in scored])]
        parents: dict[str, Genome] = {}
        for g in front + ranked:  # the front first: its members are the ones a better point would replace
            parents.setdefault(self._identity(g).canonical, g)
        return list(parents.values())[: opts.parents]

    def _candidates(
        self, done: list, opts: PredictorEvolutionOptions, multi: bool, at_least: int = 0
    ) -> list[Genome]:
        """Unseen, not provably infeasible genomes bred from the best evaluated ones, no two computing
        the same network (equal effective encodings) and none computing an evaluated one; further
        rounds of breeding until there are `at_least` (or a round adds nothing)."""
        top = self._parents(done, opts, multi)
        taken = {tuple(self._identity(g).code) for g, _ in self.history}
        pool: dict[tuple[int, ...], Genome] = {}
        for _ in range(MAX_ROUNDS):
            size = len(pool)
            for g in self._breed(top, opts):
                ident = self._identity(g)
                key = tuple(ident.code)
                if (
                    ident.canonical not in self.seen
                    and key not in taken
                    and key not in pool
                    and feasible_for_free(self, g)
                ):
                    pool[key] = g
            if len(pool) >= at_least or len(pool) == size:
                break
        return list(pool.values())

    def _breed(self, top: list[Genome], opts: PredictorEvolutionOptions) -> list[Genome]:
        made: list[Genome] = []
        for parent in top:
            made.extend(self.space.mutate(parent, self.rng) for _ in range(opts.mutants_per_parent))
        for _ in range(opts.crossovers if len(top) > 1 else 0):
            a, b = self.rng.sample(top, 2)
            made.extend(self.space.crossover(a, b, self.rng))
        made.extend(self.space.sample(self.rng) for _ in range(opts.random_candidates))
        return made
