"""A whole search in this process: ask → train → tell, multi-fidelity, final training, export.

`nasboard search SPEC --local` calls `run_local_search` with a database-backed sink; tests use MemorySink.
Candidates are trained one after another (`parallelism` is honoured only by the service's workers).

Weight inheritance: the space's `mutate`/`crossover` are wrapped on this space instance so that each child's
canonical key remembers its parents'; a child whose parent has a checkpoint starts from the parent's
weights wherever tensor names and shapes match (its first parent for a crossover).
"""

from __future__ import annotations

import itertools
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from worker.nas.evaluation import fidelity
from worker.nas.evaluation.datasets import load_dataset
from worker.nas.evaluation.evaluator import EvalOutcome, TrainingEvaluator
from worker.nas.objectives import Objective, pareto_front
from worker.nas.registry import space_class, strategy_class
from worker.nas.runner_finish import finish_search
from worker.nas.sink import SearchSink
from worker.nas.spec import SearchSpec
from worker.nas.strategies.base import SpaceExhausted
from worker.nas.types import Genome, Result, TaskShape

# Proposals breaking a params/FLOPs constraint are skipped without counting; this many per budgeted
# candidate at most, so a strategy that only proposes infeasible networks cannot loop forever.
MAX_SKIPPED_PER_CANDIDATE = 20
Progress = Callable[[int, int, "float | None"], None]  # (candidates finished, max_candidates, best fitness)


@dataclass
class Candidate:
    cid: int
    genome: Genome
    key: str
    origin: dict[str, Any]
    outcome: EvalOutcome | None = None
    curve: list[dict[str, float]] = field(default_factory=list)

    @property
    def result(self) -> Result:
        return self.outcome.result if self.outcome else Result(status="failed", error="never trained")


class LocalSearch:
    def __init__(
        self,
        spec: SearchSpec,
        sink: SearchSink,
        *,
        data_dir: str | Path | None = None,
        artefact_dir: str | Path | None = None,
        progress: Progress | None = None,
        warm_start: list[Genome] | None = None,
        device: str | None = None,
    ) -> None:
        self.spec, self.sink, self.progress = spec, sink, progress
        self.artefact_dir = Path(artefact_dir) if artefact_dir else Path(tempfile.mkdtemp(prefix="nasboard-"))
        self.splits = load_dataset(spec.dataset, data_dir, seed=spec.seed)
        task = TaskShape(self.splits.input_shape, self.splits.n_classes)
        space_cls = space_class(spec.space.type)
        self.space = space_cls(space_cls.Options.model_validate(spec.space.options_dict()), task)
        self.objective = Objective.from_spec(spec)
        strat_cls = strategy_class(spec.strategy.type)
        options = strat_cls.Options.model_validate(spec.strategy.options_dict())
        self.strategy = strat_cls(
            self.space, options, seed=spec.seed, objective=self.objective, free_metrics=self.space.cost
        )
        self.evaluator = TrainingEvaluator(
            spec,
            self.space,
            artefact_dir=self.artefact_dir,
            device=device,
            objective=self.objective,
            splits=self.splits,
        )
        self.warm = [self.space.validate(g) for g in (warm_start or [])]
        self.candidates: list[Candidate] = []
        self.by_key: dict[str, Candidate] = {}
        self.parents: dict[str, list[str]] = {}
        self.start = time.monotonic()
        self.stop_reason: str | None = None
        self.skipped = 0  # proposals that broke a params/FLOPs constraint (not trained, not counted)
        self._track_parents()

    # --- genome sources ------------------------------------------------------------------------------------
    def _track_parents(self) -> None:
        mutate, crossover, canonical = self.space.mutate, self.space.crossover, self.space.canonical

        def tracked_mutate(genome: Genome, rng: Any) -> Genome:
            child = mutate(genome, rng)
            self.parents[canonical(child)] = [canonical(genome)]
            return child

        def tracked_crossover(a: Genome, b: Genome, rng: Any) -> tuple[Genome, Genome]:
            c, d = crossover(a, b, rng)
            self.parents[canonical(c)] = [canonical(a), canonical(b)]
            self.parents[canonical(d)] = [canonical(b), canonical(a)]
            return c, d

        self.space.mutate, self.space.crossover = tracked_mutate, tracked_crossover  # type: ignore[method-assign]

    def _next_genome(self) -> tuple[Genome, dict[str, Any]] | None:
        if self.warm:
            return self.strategy.claim(self.warm.pop(0)), {"operator": "warm-start"}
        try:
            genome = self.strategy.ask(1)[0]
        except SpaceExhausted:
            self.stop_reason = "space exhausted"
            return None
        parents = [
            self.by_key[k].cid for k in self.parents.get(self.space.canonical(genome), []) if k in self.by_key
        ]
        return genome, (
            {"operator": "mutation" if len(parents) == 1 else "crossover", "parents": parents}
            if parents
            else {"operator": "sample"}
        )

    # --- budget --------------------------------------------------------------------------------------------
    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def seconds_left(self) -> float | None:
        m = self.spec.budget.max_minutes
        return None if m is None else m * 60 - self.elapsed()

    def may_continue(self) -> bool:
        if self.stop_reason:
            return False
        left = self.seconds_left()
        if len(self.candidates) - self.skipped >= self.spec.budget.max_candidates:
            self.stop_reason = "max_candidates"
        elif self.skipped > MAX_SKIPPED_PER_CANDIDATE * self.spec.budget.max_candidates:
            self.stop_reason = "too many proposals break the constraints"
        elif left is not None and left <= 0:
            self.stop_reason = "max_minutes"
        elif (
            self.spec.budget.target is not None
            and (self.best_fitness() or float("-inf")) >= self.spec.budget.target
        ):
            self.stop_reason = "target"
        return self.stop_reason is None

    def best_fitness(self) -> float | None:
        ok = [c.result.fitness for c in self.candidates if c.outcome and c.result.ok]
        return max(ok) if ok else None  # type: ignore[type-var]

    # --- one candidate -------------------------------------------------------------------------------------
    def create(self) -> Candidate | None:
        nxt = self._next_genome()
        if nxt is None:
            return None
        genome, origin = nxt
        key = self.space.canonical(genome)
        earlier = self.by_key.get(key)
        if earlier is not None:
            origin = {**origin, "duplicate_of": earlier.cid}
        cand = Candidate(self.sink.candidate_created(genome, key, origin=origin), genome, key, origin)
        self.candidates.append(cand)
        if earlier is not None and earlier.outcome is not None:
            # The same network again (warm start, clone): reuse its result, no training.
            cand.outcome, cand.curve = earlier.outcome, list(earlier.curve)
            self.finish(cand)
            return None
        violation = self._violation(genome)
        if violation is not None:  # known without training: record it, spend no budget on it
            self.skipped += 1
            cand.outcome = EvalOutcome(Result(status="failed", metrics=violation[1], error=violation[0]))
            self.finish(cand)
            return None
        self.by_key[key] = cand
        return cand

    def _violation(self, genome: Genome) -> tuple[str, dict[str, float]] | None:
        """A params/FLOPs constraint the genome breaks, from the space's closed-form cost."""
        c = self.spec.constraints
        if c.max_params is None and c.max_flops is None:
            return None
        cost = {k: float(v) for k, v in self.space.cost(genome).items()}
        for name, metric, bound in (
            ("max_params", "params", c.max_params),
            ("max_flops", "flops", c.max_flops),
        ):
            if bound is not None and cost.get(metric, 0.0) > bound:
                return f"constraint: {metric} {cost[metric]:.0f} > {name} {bound:g} (not trained)", cost
        return None

    def train(self, cand: Candidate, epochs: int | None = None, should_stop: Any = None) -> None:
        """Train `cand` up to `epochs`, from its own checkpoint or else (optionally) its parent's weights."""
        resume = cand.outcome.checkpoint if cand.outcome and cand.outcome.result.status == "done" else None
        init_from = None
        if resume is None and self.spec.inherit_weights:
            for pkey in self.parents.get(cand.key, [])[:1]:
                parent = self.by_key.get(pkey)
                init_from = parent.outcome.checkpoint if parent and parent.outcome else None
        if cand.outcome is None:
            self.sink.candidate_started(cand.cid)

        def report(epoch: int, metrics: dict[str, float]) -> None:
            cand.curve.append({"epoch": epoch, **metrics})
            self.sink.epoch(cand.cid, epoch, metrics)

        left = self.seconds_left()
        before = cand.outcome
        cand.outcome = self.evaluator.evaluate(
            cand.genome,
            report,
            epochs=epochs,
            resume=resume,
            init_from=init_from,
            should_stop=should_stop,
            max_seconds=None if left is None else max(left, 1.0),
        )
        res = cand.outcome.result
        if res.status == "failed" and left is not None and (res.error or "").startswith("time limit"):
            res.error = f"search budget (budget.max_minutes) ran out while training; {res.error}"
        if res.status == "failed" and resume is not None and before is not None:
            # A failed promotion keeps the result of the rung that succeeded, with the reason noted.
            before.result.error = f"promotion to {epochs} epochs failed: {res.error}"
            cand.outcome = before

    def finish(self, cand: Candidate) -> None:
        artefacts = (
            {"checkpoint": cand.outcome.checkpoint} if cand.outcome and cand.outcome.checkpoint else {}
        )
        self.sink.candidate_finished(cand.cid, cand.result, artefacts)
        self.strategy.tell(cand.genome, cand.result)
        self.sink.strategy_state(self.strategy.state_dict())
        if self.progress:
            done = sum(1 for c in self.candidates if c.outcome is not None) - self.skipped
            self.progress(done, self.spec.budget.max_candidates, self.best_fitness())

    # --- schedules -----------------------------------------------------------------------------------------
    def run_plain(self) -> None:
        mf = self.spec.multi_fidelity
        median = fidelity.MedianStopping(mf.min_epochs) if mf.type == "median-stopping" else None
        while self.may_continue():
            cand = self.create()
            if cand is None:
                continue
            stop = None
            if median is not None:
                best = [float("-inf")]

                def stop(epoch: int, m: dict[str, float], best: list[float] = best) -> bool:
                    best[0] = max(best[0], m.get("val_accuracy", float("-inf")))
                    return median.should_stop(epoch, best[0])

            self.train(cand, should_stop=stop)
            if median is not None and cand.result.status == "done":
                median.add_curve(cand.outcome.curve if cand.outcome else [])
            self.finish(cand)

    def run_brackets(self) -> None:
        mf, epochs = self.spec.multi_fidelity, self.spec.training.epochs
        if mf.type == "hyperband":
            brackets = fidelity.hyperband_brackets(mf.min_epochs, epochs, mf.eta)
        else:
            brackets = [fidelity.successive_halving_bracket(mf.min_epochs, epochs, mf.eta)]
        for bracket in itertools.cycle(brackets):
            active: list[Candidate] = []
            for _ in range(bracket.n):
                if not self.may_continue():
                    break
                cand = self.create()
                if cand is not None:
                    self.train(cand, bracket.rungs[0])
                    active.append(cand)
            for rung in bracket.rungs[1:]:
                keep = set(fidelity.promote([(c.cid, c.result.fitness) for c in active], mf.eta))
                for c in active:
                    if c.cid not in keep:
                        self.finish(c)
                active = [c for c in active if c.cid in keep]
                for c in active:
                    if self.seconds_left() is None or self.seconds_left() > 0:  # type: ignore[operator]
                        self.train(c, rung)
            for c in active:
                self.finish(c)
            if not self.may_continue():
                return

    def run(self) -> dict[str, Any]:
        if self.spec.multi_fidelity.type in ("successive-halving", "hyperband"):
            self.run_brackets()
        else:
            self.run_plain()
        search_seconds = self.elapsed()
        return finish_search(self, search_seconds)

    def front(self) -> list[Candidate]:
        done = [c for c in self.candidates if c.result.ok and self.objective.vector(c.result.metrics)]
        vectors = [self.objective.vector(c.result.metrics) for c in done]
        return [done[i] for i in pareto_front(vectors)]  # type: ignore[arg-type]


def run_local_search(
    spec: SearchSpec,
    sink: SearchSink,
    *,
    data_dir: str | Path | None = None,
    artefact_dir: str | Path | None = None,
    progress: Progress | None = None,
    warm_start: list[Genome] | None = None,
    device: str | None = None,
) -> dict[str, Any]:
    """Run the whole search here; return the summary the CLI prints (see `runner_finish.finish_search`)."""
    try:
        search = LocalSearch(
            spec,
            sink,
            data_dir=data_dir,
            artefact_dir=artefact_dir,
            progress=progress,
            warm_start=warm_start,
            device=device,
        )
        return search.run()
    except Exception as exc:
        sink.search_finished("failed", {"error": f"{type(exc).__name__}: {exc}"})
        raise
