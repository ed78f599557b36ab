"""One search lifecycle, whoever runs it: `nasboard search --local` (worker.nas.runner) and the service's
coordination steps (worker.coordinator) drive this same state machine.

Plain data in, decisions out, no I/O of its own: the driver says a job started, reported an epoch or
ended, and asks for the next jobs; the lifecycle proposes (warm start first, then the strategy), records
proposals that break a params/FLOPs constraint (or, predicted from the genome, an ONNX Runtime latency
one: worker.nas.latency_predictor) as infeasible without training them, dedups, schedules
rungs and promotions (worker.nas.schedules), applies the stop rule, tells the strategy each candidate
exactly once, and ranks. Records reach storage through a `TrialStore` (the database on both paths).

The stored state holds no history: the candidates table is the history (each candidate knows its place
in the strategy's, `told`), replayed by `Lifecycle(..., trials=...)`, so a resumed search continues exactly.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from worker.nas import latency_predictor
from worker.nas.evaluation.fidelity import MedianStopping
from worker.nas.objectives import Objective, pareto_front
from worker.nas.schedules import New, Promote, make_schedule
from worker.nas.strategies.base import SpaceExhausted
from worker.nas.types import Genome, Result

# A strategy that keeps proposing infeasible networks stops the search after this many per budgeted one.
MAX_SKIPPED_PER_CANDIDATE = 20
WARM_START_TOP = 5  # best genomes of `warm_start_from` that go first
MEDIAN_CURVES = 200  # the most recent finished curves the median-stopping rule compares with
# Statuses of a candidate that is ranked by its (last) result: finished, or waiting for / in a promotion.
RANKED_STATUSES = frozenset({"done", "queued", "training"})
BUSY = ("queued", "training")
PRE_TRAINING_CONSTRAINTS = ("max_params", "max_flops")  # known from the genome, before any training
PREDICTED_CONSTRAINT = "max_latency_ms_ort"  # checked before training on the predicted figure
MEASURED_LATENCY = "latency_ms_ort"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Kept:
    """A promoted candidate's last good result, at the rung and epochs it was trained to."""

    result: Result
    rung: int
    epochs: int | None

    def record(self) -> dict[str, Any]:
        return {"result": result_dict(self.result), "rung": self.rung, "epochs": self.epochs}

    @classmethod
    def of(cls, rec: dict[str, Any] | None) -> Kept | None:
        return None if not rec else cls(Result(**rec["result"]), int(rec["rung"]), rec.get("epochs"))


@dataclass
class Trial:
    """One candidate as the lifecycle sees it."""

    cid: int
    genome: Genome
    key: str
    origin: dict[str, Any]
    status: str = "queued"  # queued | training | done | failed | infeasible | cancelled
    rung: int = 0  # the rung of the current (or last) job
    epochs: int | None = None  # epochs of the current (or last) job; None: never trained
    result: Result | None = None
    checkpoint: str | None = None
    told: int | None = None  # place in the strategy's history
    told_result: Result | None = None  # what the strategy was told (a later rung may change `result`)
    rung_scores: list[float | None] = field(default_factory=list)  # fitness after each job
    start_rung: int = 0
    predicted: dict[str, float] = field(default_factory=dict)  # made before training (latency_ms_pred)
    # While a promotion is queued or trains: the result, rung and epochs it falls back to if it fails.
    # Stored with the row, so a lifecycle replayed from the table still has it (the row's own columns then
    # hold the failed job's outcome).
    kept: Kept | None = None

    @property
    def busy(self) -> bool:
        return self.status in BUSY

    @property
    def ok(self) -> bool:
        return self.status == "done" and self.result is not None and self.result.ok

    def fitness_at(self, job: int) -> float | None:
        return self.rung_scores[job] if len(self.rung_scores) > job else None

    def record(self) -> dict[str, Any]:
        """The lifecycle's own columns of the candidate row (`lifecycle` JSON)."""
        told = self.told_result
        return {
            "rung_scores": self.rung_scores,
            "start_rung": self.start_rung,
            "told_result": None if told is None else result_dict(told),
            "predicted": self.predicted,
            "kept": None if self.kept is None else self.kept.record(),
        }


@dataclass(frozen=True)
class Job:
    """Train `cid` to `epochs` (rung `rung`), from its own checkpoint (`resume`) or a parent's weights."""

    cid: int
    genome: Genome
    epochs: int
    rung: int
    resume: str | None = None
    init_from: str | None = None


class TrialStore(Protocol):
    def insert(self, trial: Trial) -> int:
        """Store a new candidate (queued, or infeasible with its reason); return its id."""

    def update(self, trial: Trial) -> None:
        """Store the trial's status, rung, epochs, result, checkpoint, told place and `record()`."""


def result_dict(r: Result) -> dict[str, Any]:
    return {"status": r.status, "fitness": r.fitness, "metrics": r.metrics, "error": r.error}


def start_from(spec: Any, trial: Trial, parent_checkpoint: str | None) -> tuple[str | None, str | None]:
    """(resume, init_from) of a trial's next job: a promotion resumes its own checkpoint; a new candidate
    may start from its first parent's weights (`inherit_weights`)."""
    if trial.rung_scores and trial.checkpoint:
        return trial.checkpoint, None
    return None, parent_checkpoint if spec.inherit_weights else None


def seconds_left(spec: Any, elapsed: float) -> float | None:
    """What `budget.max_minutes` leaves; a job is cut when it runs out (None: no time budget)."""
    m = spec.budget.max_minutes
    return None if m is None else m * 60 - elapsed


def stop_rule(spec: Any, curves: Iterable[Sequence[dict[str, float]]]) -> Callable[[int, dict], bool] | None:
    """The median-stopping rule over finished curves, as a `should_stop(epoch, metrics)` for one job."""
    if spec.multi_fidelity.type != "median-stopping":
        return None
    rule = MedianStopping(spec.multi_fidelity.min_epochs)
    for curve in curves:
        rule.add_curve(curve)
    best = [-math.inf]

    def should_stop(epoch: int, metrics: dict[str, float]) -> bool:
        best[0] = max(best[0], float(metrics.get(rule.metric, -math.inf)))
        return rule.should_stop(epoch, best[0])

    return should_stop


def explain_failure(spec: Any, error: str | None) -> str | None:
    if error and error.startswith("time limit") and spec.budget.max_minutes and not spec.training.max_seconds:
        return f"search budget (budget.max_minutes) ran out while training; {error}"
    return error


class Lifecycle:
    def __init__(
        self,
        spec: Any,
        space: Any,
        strategy: Any,
        store: TrialStore,
        *,
        objective: Objective | None = None,
        warm: Sequence[Genome] = (),
        trials: Sequence[Trial] = (),
        state: dict[str, Any] | None = None,
    ) -> None:
        self.spec, self.space, self.strategy, self.store = spec, space, strategy, store
        self.objective = objective or Objective.from_spec(spec)
        self.schedule = make_schedule(spec)
        self.trials: dict[int, Trial] = {t.cid: t for t in trials}
        self.by_key = {t.key: t for t in trials}
        state = state or {}
        told = sorted((t for t in trials if t.told is not None), key=lambda t: t.told)  # type: ignore[arg-type,return-value]
        self.told_count = told[-1].told + 1 if told else 0  # type: ignore[operator]
        strategy.restore(
            [(t.genome, t.told_result or t.result) for t in told], set(self.by_key), state.get("strategy")
        )
        self.schedule.load(state.get("schedule") or {})
        self.stop_reason: str | None = state.get("stop_reason")
        self.intake_open = state.get("intake_open", True)
        self.skipped = sum(1 for t in trials if t.epochs is None)
        self.warm = [
            g for g in map(self._valid, warm) if g is not None and space.canonical(g) not in self.by_key
        ]
        # The space's own first genomes (a scaling search's base network), before any warm start.
        seeds = getattr(space, "seeds", list)()
        self.seeds = [g for g in seeds if space.canonical(g) not in self.by_key]
        self.curves: list[list[dict[str, float]]] = []  # finished curves, for the median rule
        # Kept up to date event by event, so a step costs the same at 10 and at 10,000 candidates.
        self._busy = {t.cid for t in trials if t.busy}
        self._trained = sum(1 for t in trials if t.epochs is not None)
        self._cancelled = sum(1 for t in trials if t.epochs is not None and t.status == "cancelled")
        self._best: Trial | None = None
        self._best_stale = True
        self._parents: dict[str, list[str]] = {}
        self._track_parents()
        # Rebuilt from the candidates table on every cold start (no state of its own to checkpoint).
        self.latency = latency_predictor.for_spec(spec, space)
        self._observed: set[int] = set()
        if self.latency is not None:
            for t in trials:
                self._observe(t, refit=False, refine=False)
            self.latency.fit()

    def _valid(self, genome: Genome) -> Genome | None:
        try:
            return self.space.validate(genome)
        except ValueError:
            return None  # warm start from a search over another space: nothing to carry over

    def state_dict(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy.compact_state(),
            "schedule": self.schedule.state(),
            "stop_reason": self.stop_reason,
            "intake_open": self.intake_open,
            # Not restored (the predictor is rebuilt from the candidates): the API names the device kind.
            "latency_device_kind": None if self.latency is None else self.latency.device_kind,
        }

    # --- budget and stop rule -----------------------------------------------------------------------------
    def spent(self) -> int:
        """Candidates that cost budget: every one trained or training (not the infeasible or cancelled)."""
        return self._trained - self._cancelled

    def in_flight(self) -> int:
        return len(self._busy)

    def finished_jobs(self) -> int:
        """Candidates trained and not in flight (progress against `max_candidates`)."""
        return self._trained - len(self._busy)

    def _set_status(self, t: Trial, status: str) -> None:
        if status == "cancelled" and t.status != "cancelled" and t.epochs is not None:
            self._cancelled += 1
        t.status = status
        if t.busy:
            self._busy.add(t.cid)
        else:
            self._busy.discard(t.cid)

    def update_stop(self, elapsed: float) -> str | None:
        if self.stop_reason is None:
            budget, left, best = self.spec.budget, seconds_left(self.spec, elapsed), self.best()
            if self.spent() >= budget.max_candidates:
                self.stop_reason = "max_candidates"
            elif self.skipped > MAX_SKIPPED_PER_CANDIDATE * budget.max_candidates:
                self.stop_reason = "too many proposals break the constraints"
            elif left is not None and left <= 0:
                self.stop_reason = "max_minutes"
            elif budget.target is not None and best is not None and best.result.fitness >= budget.target:  # type: ignore[union-attr,operator]
                self.stop_reason = "target"
        return self.stop_reason

    @property
    def finished(self) -> bool:
        """Nothing runs and nothing more will: time for the final stage."""
        return self.stop_reason is not None and self.in_flight() == 0

    # --- decisions ----------------------------------------------------------------------------------------
    def next_jobs(self, elapsed: float) -> list[Job]:
        """Fill the free slots (up to `parallelism`) with promotions and new candidates."""
        jobs: list[Job] = []
        reason = self.update_stop(elapsed)
        if reason in ("max_minutes", "target"):
            self._cancel_queued(reason)
        time_left = seconds_left(self.spec, elapsed)
        while self.in_flight() < self.spec.parallelism:
            decision = self.schedule.decide(self)
            if decision is None:
                break
            if isinstance(decision, Promote):
                t = decision.trial
                if time_left is not None and time_left <= 0:
                    self.settle(t)  # no time to go on: it stays at its rung
                    break
                if t.result is not None and t.result.ok:
                    t.kept = Kept(t.result, t.rung, t.epochs)
                t.rung, t.epochs = decision.rung, decision.epochs
                self._set_status(t, "queued")
                self.store.update(t)
                jobs.append(self._job(t))
                continue
            if self.update_stop(elapsed) is not None:
                if not self.intake_open:
                    break
                self.intake_open = False
                self.schedule.intake_closed(self)
                continue
            trial = self._propose(decision)
            if trial is not None:
                jobs.append(self._job(trial))
        return jobs

    def _job(self, t: Trial) -> Job:
        parents = t.origin.get("parents") or []
        parent = self.trials.get(parents[0]) if parents else None
        resume, init_from = start_from(self.spec, t, parent.checkpoint if parent else None)
        return Job(t.cid, t.genome, t.epochs or self.spec.training.epochs, t.rung, resume, init_from)

    def _cancel_queued(self, reason: str) -> None:
        for t in self.trials.values():
            if t.status == "queued" and not t.rung_scores:
                t.result = Result(status="failed", error=f"search stopped: {reason}")
                self._set_status(t, "cancelled")
                self.store.update(t)

    def _next_genome(self) -> tuple[Genome, dict[str, Any]] | None:
        while self.seeds:
            g = self.seeds.pop(0)
            if self.space.canonical(g) not in self.by_key:
                self.strategy.claim(g)
                return g, {"operator": "reference"}
        while self.warm:
            g = self.warm.pop(0)
            if self.space.canonical(g) not in self.by_key:
                self.strategy.claim(g)
                return g, {"operator": "warm-start", "warm_start_from": self.spec.warm_start_from}
        try:
            genome = self.strategy.ask(1)[0]
        except SpaceExhausted:
            self.stop_reason = "space exhausted"
            return None
        keys = self._parents.pop(self.space.canonical(genome), [])
        parents = [self.by_key[k].cid for k in keys if k in self.by_key]
        if not parents:
            return genome, {"operator": "sample"}
        return genome, {"operator": "mutation" if len(parents) == 1 else "crossover", "parents": parents}

    def _propose(self, decision: New) -> Trial | None:
        nxt = self._next_genome()
        if nxt is None:
            return None
        genome, origin = nxt
        trial = Trial(0, genome, self.space.canonical(genome), origin)
        trial.predicted = self._predict(genome)
        reason = self._pre_training_violation(genome, trial.predicted)
        if reason is not None:  # known without training: recorded, never trained, no budget spent
            cost = {k: float(v) for k, v in self.space.cost(genome).items()} | trial.predicted
            trial.status, trial.result = "infeasible", Result("infeasible", metrics=cost, error=reason)
            self._add(trial)
            self.skipped += 1
            self.settle(trial)
            return None
        trial.rung = trial.start_rung = decision.rung
        trial.epochs = decision.epochs
        self._trained += 1
        self._add(trial)
        self.schedule.created(self, trial)
        return trial

    def _add(self, trial: Trial) -> None:
        trial.cid = self.store.insert(trial)
        self.trials[trial.cid] = trial
        self.by_key[trial.key] = trial
        if trial.busy:
            self._busy.add(trial.cid)

    def _pre_training_violation(self, genome: Genome, predicted: dict[str, float]) -> str | None:
        names = [n for n in PRE_TRAINING_CONSTRAINTS if n in self.objective.constraints]
        if names:
            reason = self.objective.violation(self.space.cost(genome), only=names)
            if reason is not None:
                return f"constraint: {reason} (from the genome; not trained)"
        pred = predicted.get(latency_predictor.PRED_METRIC)
        if pred is None or PREDICTED_CONSTRAINT not in self.objective.constraints:
            return None  # no prediction: the measured figure is checked after training, as without one
        reason = self.objective.violation({MEASURED_LATENCY: pred}, only=[PREDICTED_CONSTRAINT])
        if reason is None:
            return None
        pred_name = latency_predictor.PRED_METRIC
        return f"constraint: predicted {reason} ({pred_name}, from the genome; not trained)"

    # --- latency prediction -------------------------------------------------------------------------------
    def _predict(self, genome: Genome) -> dict[str, float]:
        if self.latency is None:
            return {}
        try:
            return {latency_predictor.PRED_METRIC: round(self.latency.predict(genome), 6)}
        except Exception:  # noqa: BLE001 - a prediction that fails leaves the candidate to its measurement
            log.warning("latency prediction failed", exc_info=True)
            return {}

    def _observe(self, t: Trial, *, refit: bool = True, refine: bool = True) -> None:
        """Feed a candidate's measured latency to the predictor (its regression, and its table's operators
        when it measured well under the prediction: not on a cold start's replay), once per candidate."""
        metrics = t.result.metrics if t.result is not None else None
        if self.latency is None or t.cid in self._observed or not metrics or MEASURED_LATENCY not in metrics:
            return
        self._observed.add(t.cid)
        try:
            self.latency.observe(t.genome, metrics[MEASURED_LATENCY], refit=refit, refine=refine)
        except Exception:  # noqa: BLE001 - the regression is an aid; it never stops the search
            log.warning("latency observation failed", exc_info=True)

    # --- events -------------------------------------------------------------------------------------------
    def job_started(self, cid: int) -> None:
        self._set_status(self.trials[cid], "training")

    def job_lost(self, cid: int) -> None:
        """Its worker was lost (the lease ran out): the same job waits to be trained again."""
        self._set_status(self.trials[cid], "queued")

    def job_finished(
        self, cid: int, result: Result, checkpoint: str | None = None, curve: Sequence[dict] | None = None
    ) -> Trial:
        t = self.trials[cid]
        kept, t.kept = t.kept, None
        if result.status != "done" and kept is not None:
            # A failed promotion keeps the rung that succeeded, with the reason noted; the row shows that
            # rung and its epochs again (rung_scores' trailing None keeps it from being promoted again).
            error = f"promotion to {t.epochs} epochs failed: {result.error}"
            t.result = Result(kept.result.status, kept.result.fitness, dict(kept.result.metrics), error)
            t.rung, t.epochs = kept.rung, kept.epochs
            self._set_status(t, "done")
            t.rung_scores.append(None)
        else:
            if result.status == "done" and result.fitness is None:
                reason = self.objective.violation(result.metrics)
                if reason is not None:
                    result = Result(
                        "infeasible", metrics=result.metrics, error=f"constraint: {reason} (measured)"
                    )
            result.error = explain_failure(self.spec, result.error)
            t.result = result
            self._set_status(t, "done" if result.status == "done" else result.status)
            t.checkpoint = checkpoint or t.checkpoint
            t.rung_scores.append(result.fitness if result.ok else None)
            if result.status == "done" and curve:
                self.curves = [*self.curves[-(MEDIAN_CURVES - 1) :], list(curve)]
        if t.predicted and t.result is not None:
            t.result.metrics = {**t.predicted, **(t.result.metrics or {})}
        self._observe(t)
        self._note_result(t)
        self.store.update(t)
        self.schedule.completed(self, t)
        return t

    def _note_result(self, t: Trial) -> None:
        """Keep the best current after `t`'s result changed (a full ranking only if the best got worse)."""
        key, best = self._rank_key(t), self._best
        best_key = None if best is None else self._rank_key(best)
        if best is t or (best is not None and best_key is None):
            self._best_stale = True
        elif key is not None and not self._best_stale and (best_key is None or key < best_key):
            self._best = t

    def settle(self, t: Trial) -> None:
        """Tell the strategy `t`'s result; once per candidate."""
        if t.told is not None:
            return
        t.told, self.told_count = self.told_count, self.told_count + 1
        t.told_result = t.result or Result(status="failed", error="never trained")
        self.strategy.tell(t.genome, t.told_result)
        self.store.update(t)

    # --- results ------------------------------------------------------------------------------------------
    def _rank_key(self, t: Trial) -> tuple[float, int] | None:
        """Sort key of a ranked trial (smaller is better); None when it is not ranked at all. A candidate
        waiting for or training its promotion keeps its last rung's result and its place meanwhile."""
        if t.result is None or not t.result.ok or t.status not in RANKED_STATUSES:
            return None
        if self.objective.multi:
            vec = self.objective.vector(t.result.metrics)  # type: ignore[union-attr]
            return None if vec is None else (-vec[0], t.cid)
        return (-float(t.result.fitness), t.cid)  # type: ignore[union-attr,arg-type]

    def ranked(self) -> list[Trial]:
        """Feasible finished candidates, best first, by validation figures only: fitness, or with several
        objectives the first objective (the most accurate network that meets the constraints)."""
        keyed = [(k, t) for t in self.trials.values() if (k := self._rank_key(t)) is not None]
        return [t for _, t in sorted(keyed, key=lambda kt: kt[0])]

    def best(self) -> Trial | None:
        if self._best_stale or (self._best is not None and self._rank_key(self._best) is None):
            keyed = [(k, t) for t in self.trials.values() if (k := self._rank_key(t)) is not None]
            self._best = min(keyed, key=lambda kt: kt[0])[1] if keyed else None
            self._best_stale = False
        return self._best

    def front(self) -> list[Trial]:
        done = [t for t in self.trials.values() if t.ok and self.objective.vector(t.result.metrics)]  # type: ignore[union-attr]
        return [done[i] for i in pareto_front([self.objective.vector(t.result.metrics) for t in done])]  # type: ignore[misc,union-attr]

    def counts(self) -> dict[str, int]:
        out = {s: 0 for s in ("queued", "training", "done", "failed", "infeasible", "cancelled")}
        for t in self.trials.values():
            out[t.status] = out.get(t.status, 0) + 1
        return out

    # --- parents of each proposal -------------------------------------------------------------------------
    def _track_parents(self) -> None:
        """Wrap this space's mutate/crossover so each child remembers its parents' keys (for `origin` and
        weight inheritance); an entry lives only until the child is proposed."""
        space, parents = self.space, self._parents
        mutate, crossover, canonical = space.mutate, space.crossover, space.canonical

        def tracked_mutate(genome: Genome, rng: Any) -> Genome:
            child = mutate(genome, rng)
            parents[canonical(child)] = [canonical(genome)]
            return child

        def tracked_crossover(a: Genome, b: Genome, rng: Any) -> tuple[Genome, Genome]:
            c, d = crossover(a, b, rng)
            parents[canonical(c)] = [canonical(a), canonical(b)]
            parents[canonical(d)] = [canonical(b), canonical(a)]
            return c, d

        space.mutate, space.crossover = tracked_mutate, tracked_crossover
