"""The logic behind the Celery tasks, as plain functions that unit tests call directly.

`advance_search` is one short, locked step: tell the strategy what finished, keep `parallelism`
candidates in flight within the budget, store the new candidates and the strategy state, and only after
the commit hand the new candidate ids to the dispatcher. `train_candidate` trains one candidate and
triggers the next step; `finalize_search` retrains/exports the best and closes the search. No function
waits on another, so any worker can continue any search.
"""

from __future__ import annotations

import logging
import os
import socket
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db import repository as repo
from backend.db.models import TERMINAL_SEARCH, Candidate, utcnow
from backend.db.session import session_scope
from backend.events import publish_change
from backend.settings import Settings, get_settings
from worker.engine_bridge import space_for
from worker.nas.factory import make_strategy
from worker.nas.spec import SearchSpec, parse_spec
from worker.nas.strategies.base import SpaceExhausted
from worker.nas.types import Result

log = logging.getLogger(__name__)


class Dispatcher(Protocol):
    """Where the coordinator sends follow-up work: Celery in the service, a list in unit tests."""

    def train(self, candidate_id: int) -> None: ...

    def advance(self, search_id: int) -> None: ...

    def finalize(self, search_id: int) -> None: ...


@dataclass
class Outcome:
    """What an evaluator hands back, normalised: the strategy's result and stored files by format."""

    result: Result
    artefacts: dict[str, str] = field(default_factory=dict)


# evaluator_factory(search_id, spec, space, settings) -> object with evaluate(genome, report)
EvaluatorFactory = Callable[[int, SearchSpec, Any, Settings], Any]


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _spec_of(search: Any) -> SearchSpec:
    return parse_spec(search.spec)


def _tell_finished(s: Session, search_id: int, strategy: Any, told_seq: int) -> None:
    """Tell the strategy every candidate that finished after `told_seq`.

    A candidate's `seq` is final once it is done or failed, and every finish takes the search's lock,
    which this step holds: no finish with a lower seq can commit after this read.
    """
    rows = s.execute(
        select(Candidate)
        .where(
            Candidate.search_id == search_id,
            Candidate.seq > told_seq,
            Candidate.status.in_(("done", "failed")),
        )
        .order_by(Candidate.seq)
    ).scalars()
    for cand in rows:
        status = "done" if cand.status == "done" else "failed"
        strategy.tell(
            cand.genome, Result(status=status, fitness=cand.fitness, metrics=cand.metrics, error=cand.error)
        )


def _warm_start(s: Session, spec: SearchSpec, space: Any, strategy: Any, n: int) -> list[tuple]:
    """First step of a search with `warm_start_from`: the earlier search's best genomes go first."""
    if spec.warm_start_from is None:
        return []
    items = []
    for genome in repo.best_genomes(s, spec.warm_start_from, n):
        try:
            genome = space.validate(genome)
        except ValueError:
            continue  # the earlier search used another space: nothing to carry over
        if strategy.is_new(genome):
            strategy.claim(genome)
            items.append((genome, space.canonical(genome), {"warm_start_from": spec.warm_start_from}))
    return items


def _stop_reason(search: Any, spec: SearchSpec, counts: dict[str, int], best: float | None) -> str | None:
    created = sum(counts.values()) - counts["cancelled"]
    if spec.budget.target is not None and best is not None and best >= spec.budget.target:
        return "target"
    if spec.budget.max_minutes is not None and search.started_at is not None:
        started = search.started_at if search.started_at.tzinfo else search.started_at.replace(tzinfo=UTC)
        if (utcnow() - started).total_seconds() >= spec.budget.max_minutes * 60:
            return "max_minutes"
    if created >= spec.budget.max_candidates:
        return "max_candidates"
    return None


def advance_search(
    search_id: int, dispatcher: Dispatcher, settings: Settings | None = None, *, kick: bool = False
) -> dict[str, Any]:
    """One coordination step. `kick` (start/resume) also re-dispatches candidates left queued."""
    settings = settings or get_settings()
    to_train: list[int] = []
    finalize = False
    with session_scope(settings, write=True) as s:
        search = repo.lock_search(s, search_id)
        if search.status in TERMINAL_SEARCH or search.status == "paused":
            return {"search_id": search_id, "status": search.status, "dispatched": []}
        spec = _spec_of(search)
        if search.status == "queued":
            search = repo.start_search(s, search_id)
            if spec.multi_fidelity.type in ("successive-halving", "hyperband"):
                # Rung-synchronous schedules run in `nasboard search --local`; say so instead of hiding it.
                note = f"multi_fidelity {spec.multi_fidelity.type} is not run by the service workers"
                repo.update_summary(s, search_id, {"notes": [note + "; candidates train at full fidelity"]})
        space = space_for(spec, settings)
        strategy = make_strategy(spec, space)
        strategy.free_metrics = space.cost  # known without training, as in the local runner
        state = search.strategy_state or {}
        if state:
            strategy.load_state_dict(state)
        told_seq = repo.get_search(s, search_id).next_seq  # the value this step's lock took
        _tell_finished(s, search_id, strategy, int(state.get("told_seq", 0)))

        counts = repo.candidate_counts(s, search_id)
        best = s.get(Candidate, search.best_candidate_id) if search.best_candidate_id else None
        reason = (search.summary or {}).get("stop_reason") or _stop_reason(
            search, spec, counts, best.fitness if best else None
        )
        in_flight = counts["queued"] + counts["training"]
        if reason is None:
            room = spec.budget.max_candidates - (sum(counts.values()) - counts["cancelled"])
            want = min(spec.parallelism - in_flight, room)
            if want > 0:
                items = _warm_start(s, spec, space, strategy, want) if not sum(counts.values()) else []
                try:
                    genomes = strategy.ask(want - len(items)) if want > len(items) else []
                except SpaceExhausted as exc:
                    genomes, reason = [], f"space_exhausted: {exc}"
                items += [(g, space.canonical(g), {"strategy": spec.strategy.type}) for g in genomes]
                added = repo.add_candidates(s, search_id, items, epochs=spec.training.epochs)
                to_train += [c.id for c in added]
        if reason == "target":  # the goal is met: queued work is no longer worth spending
            for cand in s.execute(
                select(Candidate).where(Candidate.search_id == search_id, Candidate.status == "queued")
            ).scalars():
                cand.status, cand.finished_at = "cancelled", utcnow()
                cand.seq = repo._next_seq(s, search_id)
        if kick:
            to_train += [
                c.id
                for c in s.execute(
                    select(Candidate).where(Candidate.search_id == search_id, Candidate.status == "queued")
                ).scalars()
                if c.id not in to_train
            ]
        repo.save_strategy_state(s, search_id, {**strategy.state_dict(), "told_seq": told_seq})
        if reason is not None:
            summary = search.summary or {}
            now = repo.candidate_counts(s, search_id)
            in_flight = now["queued"] + now["training"]
            if "stop_reason" not in summary:
                repo.update_summary(s, search_id, {"stop_reason": reason})
            if in_flight == 0 and not summary.get("finalizing"):
                repo.update_summary(s, search_id, {"finalizing": True})
                finalize = True
        seq = repo.get_search(s, search_id).next_seq
    publish_change(settings, search_id, seq)
    for cid in to_train:
        dispatcher.train(cid)
    if finalize:
        dispatcher.finalize(search_id)
    return {"search_id": search_id, "status": "running", "dispatched": to_train, "finalize": finalize}


def _normalise(outcome: Any) -> Outcome:
    """Accept the evaluator's outcome object (`result` + `artefacts`) or a bare Result."""
    if isinstance(outcome, Result):
        return Outcome(outcome)
    result = outcome.result
    artefacts = dict(getattr(outcome, "artefacts", None) or {})
    return Outcome(result, {k: str(v) for k, v in artefacts.items()})


def _artefact_sizes(artefacts: dict[str, str]) -> dict[str, tuple[str, int]]:
    return {fmt: (path, os.path.getsize(path)) for fmt, path in artefacts.items() if os.path.exists(path)}


MEDIAN_CURVES = 200  # the most recent finished curves the median-stopping rule compares with


def _median_rule(s: Session, spec: SearchSpec, search_id: int) -> Any:
    """The median-stopping rule over this search's finished curves, when the spec asks for it."""
    if spec.multi_fidelity.type != "median-stopping":
        return None
    from worker.nas.evaluation.fidelity import MedianStopping

    rule = MedianStopping(spec.multi_fidelity.min_epochs)
    for curve in repo.done_curves(s, search_id, MEDIAN_CURVES):
        rule.add_curve(curve)
    return rule


def train_candidate(
    candidate_id: int,
    dispatcher: Dispatcher,
    evaluator_factory: EvaluatorFactory,
    settings: Settings | None = None,
) -> str:
    """Train one candidate, streaming its curve; returns what happened (for logs and tests)."""
    settings = settings or get_settings()
    with session_scope(settings, write=True) as s:
        cand = s.get(Candidate, candidate_id)
        if cand is None:
            return "missing"
        search = repo.get_search(s, cand.search_id)
        search_id, genome = search.id, cand.genome
        if search.status == "cancelled" and cand.status == "queued":
            repo.finish_candidate(s, candidate_id, "cancelled", error="search cancelled")
            return "cancelled"
        if search.status == "paused":
            return "paused"  # stays queued; resume re-dispatches it
        if not repo.mark_training(s, candidate_id, worker_name()):
            return "already-finished"
        spec = _spec_of(search)
        median = _median_rule(s, spec, search_id)
    publish_change(settings, search_id, None)
    best = [float("-inf")]

    def report(epoch: int, metrics: dict[str, float]) -> bool:
        """Store one curve point; True asks the trainer to stop (search cancelled, or below the median)."""
        with session_scope(settings, write=True) as s:
            repo.add_curve_point(s, candidate_id, epoch, metrics)
            repo.touch_candidate(s, candidate_id)
            stop = repo.get_search(s, search_id).status == "cancelled"
        publish_change(settings, search_id, None)
        if median is not None and not stop:
            best[0] = max(best[0], float(metrics.get(median.metric, float("-inf"))))
            stop = median.should_stop(epoch, best[0])
        return stop

    try:
        evaluator = evaluator_factory(search_id, spec, space_for(spec, settings), settings)
        outcome = _normalise(evaluator.evaluate(genome, report))
    except Exception as exc:  # a broken candidate must not break the search
        log.warning("candidate %s failed: %s", candidate_id, traceback.format_exc())
        outcome = Outcome(Result(status="failed", error=f"{type(exc).__name__}: {exc}"))
    result = outcome.result
    with session_scope(settings, write=True) as s:
        cancelled = repo.get_search(s, search_id).status == "cancelled"
        # Training cut short by a cancel is not a result; one that ran to its end still is.
        interrupted = not result.ok or bool(result.metrics.get("stopped_early"))
        status = "cancelled" if cancelled and interrupted else ("done" if result.ok else "failed")
        repo.finish_candidate(
            s,
            candidate_id,
            status,
            fitness=result.fitness if result.ok else None,
            metrics=result.metrics,
            error=result.error if status != "done" else None,
            artefacts=_artefact_sizes(outcome.artefacts),
        )
    publish_change(settings, search_id, None)
    dispatcher.advance(search_id)
    return status


@dataclass
class DoneCandidate:
    """A finished candidate as the finalizer sees it: no session attached."""

    id: int
    genome: dict[str, Any]
    fitness: float | None
    metrics: dict[str, Any]
    checkpoint: str | None


def fail_candidate(
    candidate_id: int, reason: str, dispatcher: Dispatcher, settings: Settings | None = None
) -> None:
    """Best effort after an infrastructure error: mark the candidate failed and let the search go on."""
    settings = settings or get_settings()
    try:
        with session_scope(settings, write=True) as s:
            cand = repo.finish_candidate(s, candidate_id, "failed", error=reason)
            search_id = cand.search_id if cand is not None else None
    except Exception:
        log.exception("could not record the failure of candidate %s", candidate_id)
        return
    if search_id is not None:
        dispatcher.advance(search_id)


# finalizer(search_id, spec, space, done candidates best first, settings) -> (summary, {candidate_id: files})
Finalizer = Callable[
    [int, SearchSpec, Any, list[DoneCandidate], Settings], tuple[dict[str, Any], dict[int, dict[str, str]]]
]


def _rank(spec: SearchSpec, done: list[DoneCandidate]) -> list[DoneCandidate]:
    """Best first by validation figures, as the local runner ranks: fitness, or with several objectives
    the first objective among the feasible candidates."""
    from worker.nas.objectives import Objective

    objective = Objective.from_spec(spec)
    if objective.multi:
        scored = [(objective.vector(c.metrics), c) for c in done]
        return [c for v, c in sorted((x for x in scored if x[0] is not None), key=lambda vc: -vc[0][0])]
    return sorted((c for c in done if c.fitness is not None), key=lambda c: -float(c.fitness))  # type: ignore[arg-type]


def finalize_search(search_id: int, finalizer: Finalizer, settings: Settings | None = None) -> str:
    """Final training and export of the best candidates, then close the search (completed or failed)."""
    settings = settings or get_settings()
    with session_scope(settings) as s:
        search = repo.get_search(s, search_id)
        if search.status in TERMINAL_SEARCH:
            return search.status
        spec = _spec_of(search)
        done = _rank(
            spec,
            [
                DoneCandidate(c.id, c.genome, c.fitness, c.metrics, repo.artefact_path(s, c.id, "checkpoint"))
                for c in s.execute(
                    select(Candidate).where(Candidate.search_id == search_id, Candidate.status == "done")
                ).scalars()
            ],
        )
    status, error, summary, files = "completed", None, {}, {}
    if not done:
        status = "failed"
        error = "no candidate finished successfully within the constraints; see the candidates' errors"
    else:
        try:
            summary, files = finalizer(search_id, spec, space_for(spec, settings), done, settings)
        except Exception as exc:  # the search results stand even when the final step fails
            log.warning("final step of search %s failed: %s", search_id, traceback.format_exc())
            summary = {"final_error": f"{type(exc).__name__}: {exc}"}
    with session_scope(settings, write=True) as s:
        for cid, artefacts in files.items():
            for fmt, (path, size) in _artefact_sizes(artefacts).items():
                repo.add_artefact(s, cid, fmt, path, size)
        search = repo.finish_search(
            s, search_id, status, error=error, summary={**summary, "finalizing": False}
        )
        final = search.status
    publish_change(settings, search_id, None)
    return final
