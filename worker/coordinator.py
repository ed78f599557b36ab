"""The service's driver of the search lifecycle (worker.nas.lifecycle), as plain functions that the Celery
tasks call and unit tests call directly.

`advance_search` is one short step under the search's row lock: feed the lifecycle what finished since the
last step, let it fill the free slots, store its decisions, and only after the commit hand the new jobs to
the dispatcher. `train_candidate` runs one job and triggers the next step; `finalize_search` runs the final
stage and closes the search. No function waits on another, so any worker can continue any search.

A step process keeps the lifecycle of the searches it advanced (`_LIVE`), valid while the stored state's
version is the one it wrote: then a step reads only the candidates changed since, so it costs the same at
10 and at 10,000 results. Any other process (or a restart) replays the candidates table once.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import traceback
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC
from types import SimpleNamespace
from typing import Any, Protocol

from sqlalchemy.orm import Session

from backend.db import repository as repo
from backend.db.models import TERMINAL_CANDIDATE, TERMINAL_SEARCH, Candidate, utcnow
from backend.db.session import session_scope, write_retrying
from backend.events import publish_change
from backend.settings import Settings, get_settings
from worker.engine_bridge import progress_path, space_for
from worker.nas.factory import make_strategy
from worker.nas.final_stage import search_summary
from worker.nas.lifecycle import (
    MEDIAN_CURVES,
    WARM_START_TOP,
    Lifecycle,
    Trial,
    seconds_left,
    start_from,
    stop_rule,
)
from worker.nas.spec import SearchSpec, parse_spec
from worker.nas.types import Result

log = logging.getLogger(__name__)


class Dispatcher(Protocol):
    """Where the coordinator sends follow-up work: Celery in the service, a list in unit tests."""

    def train(self, candidate_id: int) -> None: ...

    def advance(self, search_id: int) -> None: ...

    def finalize(self, search_id: int) -> None: ...


@dataclass
class Outcome:
    """What an evaluator hands back, normalised: the result and stored files by format."""

    result: Result
    artefacts: dict[str, str] = field(default_factory=dict)


# evaluator_factory(search_id, spec, space, settings) -> object with evaluate(genome, report, **job)
EvaluatorFactory = Callable[[int, SearchSpec, Any, Settings], Any]
# finalizer(search_id, spec, ranked trials, settings) -> (summary part, files of the best candidate)
Finalizer = Callable[[int, SearchSpec, list[Trial], Settings], tuple[dict[str, Any], dict[str, str]]]


def worker_name() -> str:
    """The lease holder: host, parent (the Celery worker whose pool runs this) and this process."""
    return f"{socket.gethostname()}:{os.getppid()}:{os.getpid()}"


def holder_gone(holder: str) -> bool:
    """Whether a lease holder is known dead: a sibling in this same worker (a pool process that was killed
    and whose task came back here) that no longer exists. Any other holder only by its lease running out."""
    host, _, rest = holder.partition(":")
    parent, _, pid = rest.partition(":")
    if host != socket.gethostname() or parent != str(os.getppid()) or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


class _Heartbeat:
    """Renews a lease every third of it while the work runs: an epoch can take longer than the lease on a
    CPU, and a live holder must never be replaced. `renew(session)` says whether the lease is still held;
    `lost` is set when it is not (the work was handed to another), which stops the work at its next check."""

    def __init__(self, settings: Settings, what: str, renew: Callable[[Session], bool]) -> None:
        self.settings, self.what, self.renew = settings, what, renew
        self.lost, self._stop = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lease-{what}", daemon=True)

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self.settings.lease_seconds / 3):
            try:
                with session_scope(self.settings, write=True) as s:
                    held = self.renew(s)
            except Exception:  # the database away for a moment: the next beat tries again
                log.warning("could not renew the lease of %s", self.what, exc_info=True)
                continue
            if not held:
                self.lost.set()
                return


class _RepoStore:
    """The lifecycle's TrialStore on the step's session."""

    def __init__(self, s: Session, search_id: int) -> None:
        self.s, self.search_id = s, search_id

    def insert(self, trial: Trial) -> int:
        return repo.insert_trial(self.s, self.search_id, trial)

    def update(self, trial: Trial) -> None:
        repo.update_trial(self.s, trial)


@dataclass
class _Live:
    version: int
    cursor: int
    lifecycle: Lifecycle


_LIVE: OrderedDict[int, _Live] = OrderedDict()
_MAX_LIVE = 32


def _elapsed(search: Any) -> float:
    if search.started_at is None:
        return 0.0
    started = search.started_at if search.started_at.tzinfo else search.started_at.replace(tzinfo=UTC)
    return (utcnow() - started).total_seconds()


def _apply(lc: Lifecycle, row: Trial, row_status: str, row_result: Result | None) -> None:
    """Turn what a row says happened since the lifecycle last looked into lifecycle events."""
    t = lc.trials.get(row.cid)
    if t is None or not t.busy:
        return
    if row_status in TERMINAL_CANDIDATE and row_result is not None:
        lc.job_finished(row.cid, row_result, row.checkpoint)
    elif row_status == "training":
        lc.job_started(row.cid)
    elif row_status == "queued" and t.status == "training":
        lc.job_lost(row.cid)


def _lifecycle(s: Session, search: Any, spec: SearchSpec, settings: Settings) -> tuple[Lifecycle, int]:
    """The search's lifecycle, bound to this session; and the stored state's version it continues."""
    state = repo.load_strategy_state(s, search.id) or {}
    version = int(state.get("version", 0))
    live = _LIVE.pop(search.id, None)
    if live is not None and live.version == version:
        lc = live.lifecycle
        lc.store = _RepoStore(s, search.id)
        changed = repo.trials_changed_since(s, search.id, live.cursor)
    else:  # cold: replay the candidates table
        space = space_for(spec, settings)
        strategy = make_strategy(spec, space)
        strategy.free_metrics = space.cost
        changed = repo.search_trials(s, search.id)
        warm = repo.best_genomes(s, spec.warm_start_from, WARM_START_TOP) if spec.warm_start_from else []
        lc = Lifecycle(
            spec,
            space,
            strategy,
            _RepoStore(s, search.id),
            trials=[t for t, *_ in changed],
            state=state,
            warm=warm,
        )
    for row, row_status, row_result in changed:
        _apply(lc, row, row_status, row_result)
    return lc, version


def advance_search(
    search_id: int, dispatcher: Dispatcher, settings: Settings | None = None, *, kick: bool = False
) -> dict[str, Any]:
    """One coordination step. `kick` (start/resume) also re-dispatches candidates left queued."""
    settings = settings or get_settings()
    finalize = False
    with session_scope(settings, write=True) as s:
        search = repo.lock_search(s, search_id)
        if search.status in TERMINAL_SEARCH or search.status == "paused":
            return {"search_id": search_id, "status": search.status, "dispatched": []}
        spec = parse_spec(search.spec)
        if search.status == "queued":
            search = repo.start_search(s, search_id)
        lc, version = _lifecycle(s, search, spec, settings)
        to_train = [job.cid for job in lc.next_jobs(_elapsed(search))]
        if kick:
            to_train += [t.cid for t in lc.trials.values() if t.status == "queued" and t.cid not in to_train]
        best = lc.best()
        progress = min(1.0, lc.finished_jobs() / spec.budget.max_candidates)
        repo.set_search_progress(s, search_id, best.cid if best else None, progress, lc.stop_reason)
        if lc.finished and not (search.summary or {}).get("finalizing"):
            repo.start_final(s, search_id, settings.lease_seconds)  # leased from dispatch on (the sweeper)
            finalize = True
        repo.save_strategy_state(s, search_id, repo.json_safe({**lc.state_dict(), "version": version + 1}))
        seq = repo.search_head(s, search_id)
    _LIVE[search_id] = _Live(version + 1, seq, lc)
    while len(_LIVE) > _MAX_LIVE:
        _LIVE.popitem(last=False)
    publish_change(settings, search_id, seq)
    for cid in to_train:
        dispatcher.train(cid)
    if finalize:
        dispatcher.finalize(search_id)
    return {"search_id": search_id, "status": "running", "dispatched": to_train, "finalize": finalize}


def _normalise(outcome: Any) -> Outcome:
    """Accept the evaluator's outcome (`result` + `checkpoint` or `artefacts`) or a bare Result."""
    if isinstance(outcome, Result):
        return Outcome(outcome)
    artefacts = dict(getattr(outcome, "artefacts", None) or {})
    if getattr(outcome, "checkpoint", None):
        artefacts["checkpoint"] = outcome.checkpoint
    return Outcome(outcome.result, {k: str(v) for k, v in artefacts.items()})


def _artefact_sizes(artefacts: dict[str, str]) -> dict[str, tuple[str, int]]:
    return {fmt: (path, os.path.getsize(path)) for fmt, path in artefacts.items() if os.path.exists(path)}


def _job_of(s: Session, cand: Candidate, spec: SearchSpec, search: Any, settings: Settings) -> dict[str, Any]:
    """The evaluator's arguments for this candidate's current job, by the lifecycle's rules."""
    trial = repo.trial_of(cand, repo.artefact_path(s, cand.id, "checkpoint"))
    parents = trial.origin.get("parents") or []
    parent_ckpt = repo.artefact_path(s, parents[0], "checkpoint") if parents else None
    resume, init_from = start_from(spec, trial, parent_ckpt)
    left = seconds_left(spec, _elapsed(search))
    return {
        "epochs": cand.epochs or spec.training.epochs,
        "resume": resume,
        "init_from": init_from,
        "max_seconds": None if left is None else max(left, 1.0),
        "progress": str(progress_path(settings, search.id, cand.id)),
    }


def train_candidate(
    candidate_id: int,
    dispatcher: Dispatcher,
    evaluator_factory: EvaluatorFactory,
    settings: Settings | None = None,
) -> str:
    """Run one candidate's job under a lease, streaming its curve; returns what happened (for logs and
    tests). A job that loses its lease (its candidate was requeued) stops, and its result is refused."""
    settings = settings or get_settings()
    lease = settings.lease_seconds

    def take(s: Session) -> str | tuple[Any, ...]:
        """The job, or why there is none (a word for the logs)."""
        cand = s.get(Candidate, candidate_id)
        if cand is None:
            return "missing"
        search = repo.get_search(s, cand.search_id)
        if search.status == "cancelled" and cand.status == "queued":
            repo.finish_candidate(s, candidate_id, "cancelled", error="search cancelled")
            return "cancelled"
        if search.status == "paused":
            return "paused"  # stays queued; resume re-dispatches it
        if cand.status in TERMINAL_CANDIDATE:
            return "already-finished"
        attempt = repo.take_lease(s, candidate_id, worker_name(), lease, holder_gone=holder_gone)
        if attempt is None:  # finished meanwhile, or a duplicate message while a live holder trains it
            return "already-finished" if cand.status in TERMINAL_CANDIDATE else "held-elsewhere"
        spec = parse_spec(search.spec)
        job = _job_of(s, cand, spec, search, settings)
        median = stop_rule(spec, repo.done_curves(s, search_id=search.id, limit=MEDIAN_CURVES))
        return search.id, cand.genome, attempt, spec, job, median

    taken = write_retrying(settings, take)
    if isinstance(taken, str):
        return taken
    search_id, genome, attempt, spec, job, median = taken
    publish_change(settings, search_id, None)
    stop_now = {"now": False}
    reported: list[int] = []

    def renew(s: Session) -> bool:
        return repo.renew_lease(s, candidate_id, attempt, lease)

    with _Heartbeat(settings, f"candidate {candidate_id}", renew) as heartbeat:

        def on_epoch(epoch: int, metrics: dict[str, float]) -> bool:
            """Store one curve point; True asks the trainer to stop (search cancelled, lease lost, or
            below the median)."""

            def report(s: Session) -> tuple[bool, bool]:
                held = repo.report_epoch(s, candidate_id, attempt, epoch, metrics, lease, first=not reported)
                return held, repo.get_search(s, search_id).status == "cancelled"

            held, stop = write_retrying(settings, report)
            reported.append(epoch)
            if not held:
                heartbeat.lost.set()
            else:
                publish_change(settings, search_id, None)
            stop_now["now"] = stop or not held or bool(median and median(epoch, metrics))
            return stop_now["now"]

        def should_stop(*_: object) -> bool:
            return stop_now["now"] or heartbeat.lost.is_set()

        try:
            evaluator = evaluator_factory(search_id, spec, space_for(spec, settings), settings)
            outcome = _normalise(evaluator.evaluate(genome, on_epoch, should_stop=should_stop, **job))
        except Exception as exc:  # a broken candidate must not break the search
            log.warning("candidate %s failed: %s", candidate_id, traceback.format_exc())
            outcome = Outcome(Result(status="failed", error=f"{type(exc).__name__}: {exc}"))
    result = outcome.result

    def record(s: Session) -> Any:
        cancelled = repo.get_search(s, search_id).status == "cancelled"
        # Training cut short by a cancel is not a result; one that ran to its end still is.
        interrupted = result.status != "done" or bool(result.metrics.get("stopped_early"))
        status = "cancelled" if cancelled and interrupted else result.status
        recorded = repo.finish_candidate(
            s,
            candidate_id,
            status,
            fitness=result.fitness if status == "done" else None,
            metrics=result.metrics,
            error=result.error if status != "done" else None,
            artefacts=_artefact_sizes(outcome.artefacts),
            attempt=attempt,
        )
        return status, recorded

    status, recorded = write_retrying(settings, record)
    if recorded is None:  # requeued while this ran: the new attempt reports, and triggers the next step
        log.warning("candidate %s lost its lease; its result is dropped", candidate_id)
        return "lost-lease"
    # The job's outcome is stored: its per-epoch state is no longer a place to continue from. (Only the
    # attempt that holds the lease removes it; a lost one may still be writing while another continues.)
    progress_path(settings, search_id, candidate_id).unlink(missing_ok=True)
    publish_change(settings, search_id, None)
    dispatcher.advance(search_id)
    return status


def fail_candidate(
    candidate_id: int, reason: str, dispatcher: Dispatcher, settings: Settings | None = None
) -> None:
    """Best effort after an infrastructure error: mark the candidate failed and let the search go on."""
    settings = settings or get_settings()
    try:
        with session_scope(settings, write=True) as s:
            cand = repo.finish_candidate(s, candidate_id, "failed", error=reason, holder=worker_name())
            search_id = cand.search_id if cand is not None else None
    except Exception:
        log.exception("could not record the failure of candidate %s", candidate_id)
        return
    if search_id is not None:
        dispatcher.advance(search_id)


def finalize_search(search_id: int, finalizer: Finalizer, settings: Settings | None = None) -> str:
    """The final stage (retrain, test, export the best), then close the search (completed or failed). It
    holds the final stage's lease while it runs; a duplicate task finds it held and does nothing."""
    settings = settings or get_settings()
    holder, lease = worker_name(), settings.lease_seconds
    with session_scope(settings, write=True) as s:
        search = repo.lock_search(s, search_id)
        if search.status in TERMINAL_SEARCH:
            return search.status
        if not repo.take_final(s, search_id, holder, lease):
            return "held-elsewhere"
    # Committed before the read-only replay below (which is rolled back): a holder that was never stored
    # could not renew its lease, and the sweeper would hand the final stage to a second worker.
    with session_scope(settings, write=True) as s:
        search = repo.lock_search(s, search_id)
        spec = parse_spec(search.spec)
        lc, _ = _lifecycle(s, search, spec, settings)
        ranked = lc.ranked()
        started_at = search.started_at
        summary = search_summary(lc, _elapsed(search))
        s.rollback()  # read only: nothing of the replay is stored
    status, error, files = "completed", None, {}
    if not ranked:
        status = "failed"
        error = "no candidate finished successfully within the constraints; see the candidates' errors"
    else:

        def renew(s: Session) -> bool:
            return repo.renew_final(s, search_id, holder, lease)

        try:
            with _Heartbeat(settings, f"search {search_id}'s final stage", renew):
                final, files = finalizer(search_id, spec, ranked, settings)
            summary.update(final)
        except Exception as exc:  # the search results stand even when the final step fails
            log.warning("final step of search %s failed: %s", search_id, traceback.format_exc())
            summary["final_error"] = f"{type(exc).__name__}: {exc}"
    summary["wall_seconds"] = _elapsed(SimpleNamespace(started_at=started_at))
    summary["final_seconds"] = summary["wall_seconds"] - summary["search_seconds"]
    with session_scope(settings, write=True) as s:
        best = (summary.get("best") or {}).get("candidate_id")
        for fmt, (path, size) in _artefact_sizes(files).items():
            repo.add_artefact(s, best, fmt, path, size)
        search = repo.finish_search(
            s, search_id, status, error=error, summary={**summary, "finalizing": False}
        )
        final_status = search.status
    publish_change(settings, search_id, None)
    return final_status
