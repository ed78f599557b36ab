"""Every database query of the service. Tasks, routes and CLI commands call these; nothing else queries.

Change cursor: each insert/update of a candidate, and each change of a search's status/progress, takes the
search's next counter value as the row's `seq`. The counter is bumped by an UPDATE on the search row,
which holds that row's lock until commit (Postgres row lock; SQLite's single writer), so changes commit in
`seq` order and a poller reading `seq > after` never misses one.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import secrets
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Text, cast, delete, func, literal, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, selectinload, undefer
from sqlalchemy.sql.elements import ColumnElement

from backend.db.models import (
    CANDIDATE_STATUSES,
    SEARCH_STATUSES,
    TERMINAL_CANDIDATE,
    TERMINAL_SEARCH,
    ApiToken,
    Artefact,
    BenchmarkRun,
    Candidate,
    CurvePoint,
    Search,
    SearchGroup,
    StrategyState,
    utcnow,
)

if TYPE_CHECKING:
    from worker.nas.objectives import Term


class NotFound(LookupError):
    """The row asked for does not exist."""


class InvalidTransition(ValueError):
    """A status change that is not allowed from the row's current status."""


def json_safe(value: Any) -> Any:
    """Plain JSON for JSON columns: NaN/inf become None (Postgres rejects them), tuples lists,
    unknown objects their string. Values that are plain JSON already (the usual case) pass untouched."""
    try:
        json.dumps(value, allow_nan=False)
        return value
    except (ValueError, TypeError):
        return _clean(value)


def _clean(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if value is None or isinstance(value, str | int | bool):
        return value
    return str(value)


# --- the change cursor ------------------------------------------------------------------------------------
def _next_seq(s: Session, search_id: int) -> int:
    """Bump the search's counter (locking its row until commit) and return the new value."""
    value = s.execute(
        update(Search)
        .where(Search.id == search_id)
        .values(next_seq=Search.next_seq + 1)
        .returning(Search.next_seq)
        .execution_options(synchronize_session=False)
    ).scalar_one_or_none()
    if value is None:
        raise NotFound(f"search {search_id} not found")
    return value


def lock_search(s: Session, search_id: int) -> Search:
    """Take the search row's lock for this transaction and return the fresh row (one round trip)."""
    search = s.scalars(
        update(Search)
        .where(Search.id == search_id)
        .values(next_seq=Search.next_seq + 1)  # the bump is the lock; the spent value just leaves a gap
        .returning(Search)
        .execution_options(populate_existing=True, synchronize_session=False)
    ).one_or_none()
    if search is None:
        raise NotFound(f"search {search_id} not found")
    return search


def _touch_search(s: Session, search: Search) -> None:
    search.seq = _next_seq(s, search.id)


# --- searches: reads ----------------------------------------------------------------------------------------
def create_search(
    s: Session, spec: dict[str, Any], name: str | None = None, group_id: int | None = None
) -> Search:
    search = Search(
        name=name or str(spec.get("name") or "search"),
        spec=spec,
        status="queued",
        seq=1,
        next_seq=1,
        group_id=group_id,
    )
    s.add(search)
    s.flush()
    return search


def get_search(s: Session, search_id: int) -> Search:
    search = s.get(Search, search_id)
    if search is None:
        raise NotFound(f"search {search_id} not found")
    return search


def list_searches(
    s: Session, status: str | None = None, limit: int = 50, offset: int = 0
) -> tuple[list[Search], int]:
    """A page of searches (newest first) and the total matching the filter."""
    if status is not None and status not in SEARCH_STATUSES:
        raise ValueError(f"status: {status!r} is not one of {', '.join(SEARCH_STATUSES)}")
    query = select(Search)
    count = select(func.count(Search.id))
    if status is not None:
        query, count = query.where(Search.status == status), count.where(Search.status == status)
    rows = s.execute(query.order_by(Search.id.desc()).limit(limit).offset(offset)).scalars().all()
    return list(rows), int(s.execute(count).scalar_one())


# --- groups: one spec's searches under k seeds (`repeats`) -------------------------------------------------
def create_group(s: Session, spec: dict[str, Any], name: str, created_by: str | None = None) -> SearchGroup:
    group = SearchGroup(name=name, spec=spec, created_by=created_by)
    s.add(group)
    s.flush()
    return group


def get_group(s: Session, group_id: int) -> SearchGroup:
    group = s.get(SearchGroup, group_id)
    if group is None:
        raise NotFound(f"group {group_id} not found")
    return group


def group_members(s: Session, group_ids: Sequence[int]) -> dict[int, list[Search]]:
    """Each group's searches, in the order they were created (seed order)."""
    rows = s.execute(select(Search).where(Search.group_id.in_(group_ids)).order_by(Search.id)).scalars()
    members: dict[int, list[Search]] = {g: [] for g in group_ids}
    for search in rows:
        members[int(search.group_id or 0)].append(search)
    return members


def list_groups(s: Session, limit: int = 50, offset: int = 0) -> tuple[list[SearchGroup], int]:
    """A page of groups (newest first) and how many there are."""
    rows = s.execute(select(SearchGroup).order_by(SearchGroup.id.desc()).limit(limit).offset(offset))
    return list(rows.scalars()), int(s.execute(select(func.count(SearchGroup.id))).scalar_one())


# --- stored tabular-benchmark runs (`nasboard bench tabular --publish`) ----------------------------------
def create_benchmark_run(
    s: Session, document: dict[str, Any], summary: dict[str, Any], created_by: str | None = None
) -> BenchmarkRun:
    run = BenchmarkRun(
        name=document["name"],
        strategy=document["strategy"],
        table_file=document["table"]["file"],
        summary=json_safe(summary),
        document=json_safe(document),
        created_by=created_by,
    )
    s.add(run)
    s.flush()
    return run


def get_benchmark_run(s: Session, run_id: int) -> BenchmarkRun:
    """The run with its document loaded."""
    run = s.get(BenchmarkRun, run_id, options=[undefer(BenchmarkRun.document)])
    if run is None:
        raise NotFound(f"benchmark run {run_id} not found")
    return run


def list_benchmark_runs(s: Session, limit: int = 50, offset: int = 0) -> tuple[list[BenchmarkRun], int]:
    """A page of runs (newest first, documents not loaded) and how many there are."""
    rows = s.execute(select(BenchmarkRun).order_by(BenchmarkRun.id.desc()).limit(limit).offset(offset))
    return list(rows.scalars()), int(s.execute(select(func.count(BenchmarkRun.id))).scalar_one())


def delete_benchmark_run(s: Session, run_id: int) -> None:
    if not s.execute(delete(BenchmarkRun).where(BenchmarkRun.id == run_id)).rowcount:
        raise NotFound(f"benchmark run {run_id} not found")


def candidate_counts(s: Session, search_id: int) -> dict[str, int]:
    rows = s.execute(
        # count(*), not count(id): the (search_id, status) index alone can answer it (index-only scan).
        select(Candidate.status, func.count())
        .where(Candidate.search_id == search_id)
        .group_by(Candidate.status)
    ).all()
    counts = dict.fromkeys(CANDIDATE_STATUSES, 0)
    counts.update({status: int(n) for status, n in rows})
    return counts


def _aware(ts: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; every stored time is UTC.
    return ts if ts is None or ts.tzinfo else ts.replace(tzinfo=utcnow().tzinfo)


def candidate_statuses_after(s: Session, search_id: int, after: int) -> list[tuple[int, str, int]]:
    """(id, status, seq) of the candidates changed after change-cursor `after`, in cursor order: applying
    them to the statuses read before keeps exact counts without a scan of the search's rows."""
    rows = s.execute(
        select(Candidate.id, Candidate.status, Candidate.seq)
        .where(Candidate.search_id == search_id, Candidate.seq > after)
        .order_by(Candidate.seq)
    ).all()
    return [(int(i), str(status), int(seq)) for i, status, seq in rows]


def search_summary(s: Session, search_id: int, counts: dict[str, int] | None = None) -> dict[str, Any]:
    """Counts, best candidate and timings (elapsed, a simple rate-based ETA) of one search.

    `counts` (by status) may come from a caller that keeps them current (the API's summary cache)."""
    search = get_search(s, search_id)
    if counts is None:
        counts = candidate_counts(s, search_id)
    best = None
    if search.best_candidate_id is not None:
        cand = s.get(Candidate, search.best_candidate_id)
        if cand is not None:
            best = {"candidate_id": cand.id, "fitness": cand.fitness, "metrics": cand.metrics}
    started, finished = _aware(search.started_at), _aware(search.finished_at)
    elapsed = ((finished or utcnow()) - started).total_seconds() if started else None
    finished_n = counts["done"] + counts["failed"]
    max_candidates = int((search.spec.get("budget") or {}).get("max_candidates") or 0)
    eta = None
    if elapsed and finished_n and search.status == "running" and max_candidates:
        eta = max(0.0, elapsed / finished_n * (max_candidates - finished_n))
    return {
        "n_candidates": sum(counts.values()),
        "n_done": counts["done"],
        "n_failed": counts["failed"],
        "counts": counts,
        "best": best,
        "timings": {
            "created_at": _aware(search.created_at),
            "started_at": started,
            "finished_at": finished,
            "elapsed_seconds": elapsed,
            "eta_seconds": eta,
        },
    }


# --- candidates: reads -------------------------------------------------------------------------------------
def candidates_after(s: Session, search_id: int, after: int, limit: int) -> tuple[list[Candidate], int]:
    """Candidates changed since the cursor, in change order, and the cursor to pass next time."""
    rows = list(
        s.execute(
            select(Candidate)
            .where(Candidate.search_id == search_id, Candidate.seq > after)
            .order_by(Candidate.seq)
            .limit(limit)
        ).scalars()
    )
    return rows, (rows[-1].seq if rows else after)


def changes_since(s: Session, search_id: int, seq: int, limit: int = 500) -> dict[str, Any]:
    """For SSE polling: the search row if it changed after `seq`, changed candidates, and the new cursor."""
    search = get_search(s, search_id)
    candidates, cursor = candidates_after(s, search_id, seq, limit)
    changed = search if search.seq > seq else None
    if changed is not None and len(candidates) < limit:
        cursor = max(cursor, search.seq)
    return {"search": changed, "candidates": candidates, "next": cursor}


def get_candidate(s: Session, candidate_id: int) -> Candidate:
    cand = s.execute(
        select(Candidate)
        .where(Candidate.id == candidate_id)
        .options(selectinload(Candidate.curve), selectinload(Candidate.artefacts))
    ).scalar_one_or_none()
    if cand is None:
        raise NotFound(f"candidate {candidate_id} not found")
    return cand


def candidate_curve(s: Session, candidate_id: int) -> list[dict[str, Any]]:
    rows = s.execute(
        select(CurvePoint).where(CurvePoint.candidate_id == candidate_id).order_by(CurvePoint.epoch)
    ).scalars()
    return [{"epoch": p.epoch, **p.metrics} for p in rows]


def done_curves(s: Session, search_id: int, limit: int) -> list[list[dict[str, Any]]]:
    """Learning curves of the search's most recently finished done candidates (for median stopping)."""
    ids = list(
        s.execute(
            select(Candidate.id)
            .where(Candidate.search_id == search_id, Candidate.status == "done")
            .order_by(Candidate.seq.desc())
            .limit(limit)
        ).scalars()
    )
    curves: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
    rows = s.execute(
        select(CurvePoint)
        .where(CurvePoint.candidate_id.in_(ids))
        .order_by(CurvePoint.candidate_id, CurvePoint.epoch)
    ).scalars()
    for point in rows:
        curves[point.candidate_id].append(point.metrics)
    return [c for c in curves.values() if c]


def pareto_candidates(
    s: Session,
    search_id: int,
    axes: Sequence[str | None] | None = None,
    goals: Sequence[str | None] | None = None,
) -> tuple[list[Term], list[Candidate], list[Candidate]]:
    """The objective terms (metric and resolved goal), the non-dominated done candidates, and every done
    candidate with all objectives; by the engine's objective (its directions and constraints), not a copy.
    `axes`: any metrics (or "fitness") instead of the search's objectives, each with the search's goal for
    it where it is an objective and its natural direction otherwise; an axis left None is the search's
    objective at that place (or fitness). `goals`: a direction per axis that overrides those (None: keep)."""
    from worker.nas.objectives import Objective, Term, pareto_front
    from worker.nas.spec import parse_spec

    objective = Objective.from_spec(parse_spec(get_search(s, search_id).spec))
    asked = list(goals or [])
    if (axes and any(a is not None for a in axes)) or any(asked):
        own = [t.metric for t in objective.terms]
        chosen = [
            a or (own[i] if i < len(own) else "fitness") for i, a in enumerate(axes or [None] * len(asked))
        ]
        known = {t.metric: t.goal for t in objective.terms}
        given = asked + [None] * (len(chosen) - len(asked))
        terms = [Term(a, g or known.get(a)) for a, g in zip(chosen, given, strict=True)]
        objective = Objective(terms, objective.constraints)
    done = s.execute(
        select(Candidate)
        .where(Candidate.search_id == search_id, Candidate.status == "done")
        .order_by(Candidate.id)
    ).scalars()
    vectors = ((c, objective.vector({**(c.metrics or {}), "fitness": c.fitness})) for c in done)
    scored = [(c, v) for c, v in vectors if v is not None]
    front = pareto_front([v for _, v in scored])
    return list(objective.terms), [scored[i][0] for i in front], [c for c, _ in scored]


def evaluations(s: Session, search_id: int) -> list[tuple[str, float | None, dict[str, Any] | None]]:
    """(status, fitness, metrics) of every finished candidate (done, failed, infeasible) in the order
    it finished, ties by id (the dashboard's "evaluation #"); one never stamped finished comes last."""
    get_search(s, search_id)
    rows = s.execute(
        select(Candidate.status, Candidate.fitness, Candidate.metrics)
        .where(Candidate.search_id == search_id, Candidate.status.in_(("done", "failed", "infeasible")))
        .order_by(Candidate.finished_at.is_(None), Candidate.finished_at, Candidate.id)
    )
    return [(status, fitness, metrics) for status, fitness, metrics in rows]


def latency_pairs(s: Session, search_id: int) -> list[tuple[int, float, float]]:
    """(candidate id, latency_ms_pred, latency_ms_ort) of the candidates that have both figures (trained
    ones; a prediction over max_latency_ms_ort is never measured), in creation order."""
    get_search(s, search_id)
    rows = s.execute(
        select(Candidate.id, Candidate.metrics)
        .where(Candidate.search_id == search_id, Candidate.status.in_(("done", "infeasible")))
        .order_by(Candidate.id)
    )
    out = []
    for cid, metrics in rows:
        pred, measured = (metrics or {}).get("latency_ms_pred"), (metrics or {}).get("latency_ms_ort")
        if isinstance(pred, int | float) and isinstance(measured, int | float):
            out.append((cid, float(pred), float(measured)))
    return out


def _scored(search_id: int) -> ColumnElement[bool]:
    """Done candidates with a fitness: what decision importance learns from."""
    return (Candidate.search_id == search_id) & (Candidate.status == "done") & Candidate.fitness.is_not(None)


def scored_version(s: Session, search_id: int) -> tuple[int, int]:
    """How many done candidates with a fitness the search has, and the last change among them (their
    largest `seq`): a cache key that moves whenever the importance's input could have changed."""
    get_search(s, search_id)
    count, last = s.execute(select(func.count(), func.max(Candidate.seq)).where(_scored(search_id))).one()
    return int(count), int(last or 0)


def scored_sample(s: Session, search_id: int, limit: int) -> list[tuple[dict[str, Any], float]]:
    """(genome, fitness) of at most `limit` done candidates, evenly spread over creation order, so a
    long search is represented from its exploration to its latest candidates."""
    ids = list(s.execute(select(Candidate.id).where(_scored(search_id)).order_by(Candidate.id)).scalars())
    if len(ids) > limit:
        ids = [ids[i * len(ids) // limit] for i in range(limit)]
    rows = s.execute(
        select(Candidate.genome, Candidate.fitness).where(Candidate.id.in_(ids)).order_by(Candidate.id)
    )
    return [(genome, float(fitness)) for genome, fitness in rows]


def best_genomes(s: Session, search_id: int, k: int) -> list[dict[str, Any]]:
    """Genomes of a search's k best done candidates (to warm-start a new search)."""
    get_search(s, search_id)
    rows = s.execute(
        select(Candidate.genome)
        .where(Candidate.search_id == search_id, Candidate.status == "done", Candidate.fitness.is_not(None))
        .order_by(Candidate.fitness.desc(), Candidate.id)
        .limit(k)
    ).scalars()
    return list(rows)


def artefact_path(s: Session, candidate_id: int, format: str) -> str | None:
    return s.execute(
        select(Artefact.path).where(Artefact.candidate_id == candidate_id, Artefact.format == format)
    ).scalar_one_or_none()


def artefact_formats(s: Session, candidate_id: int) -> list[str]:
    rows = s.execute(
        select(Artefact.format).where(Artefact.candidate_id == candidate_id).order_by(Artefact.format)
    )
    return list(rows.scalars())


# --- searches: control -------------------------------------------------------------------------------------
# Which status a control action leads to, and from which statuses it is allowed.
_ACTIONS: dict[str, tuple[str, frozenset[str]]] = {
    "cancel": ("cancelled", frozenset({"queued", "running", "paused"})),
    "pause": ("paused", frozenset({"queued", "running"})),
    "resume": ("running", frozenset({"paused"})),
}


def set_search_status(s: Session, search_id: int, action_or_status: str) -> Search:
    """Apply cancel / pause / resume (or a plain status). Cancelling also cancels queued candidates."""
    search = lock_search(s, search_id)
    if action_or_status in _ACTIONS:
        target, allowed = _ACTIONS[action_or_status]
        if search.status not in allowed:
            raise InvalidTransition(
                f"cannot {action_or_status} a search that is {search.status}; "
                f"allowed from: {', '.join(sorted(allowed))}"
            )
    elif action_or_status in SEARCH_STATUSES:
        target = action_or_status
    else:
        raise ValueError(
            f"status: {action_or_status!r} is not one of {', '.join([*_ACTIONS, *SEARCH_STATUSES])}"
        )
    search.status = target
    if target == "running" and search.started_at is None:
        search.started_at = utcnow()
    if target in TERMINAL_SEARCH:
        search.finished_at = search.finished_at or utcnow()
    if target == "cancelled":
        for cand in s.execute(
            select(Candidate).where(Candidate.search_id == search_id, Candidate.status == "queued")
        ).scalars():
            cand.status, cand.finished_at, cand.seq = "cancelled", utcnow(), _next_seq(s, search_id)
    _touch_search(s, search)
    return search


def delete_search(s: Session, search_id: int) -> list[str]:
    """Delete a search with its candidates; return the artefact paths so the caller can remove the files."""
    get_search(s, search_id)
    paths = list(
        s.execute(
            select(Artefact.path)
            .join(Candidate, Candidate.id == Artefact.candidate_id)
            .where(Candidate.search_id == search_id)
        ).scalars()
    )
    cand_ids = select(Candidate.id).where(Candidate.search_id == search_id)
    s.execute(delete(CurvePoint).where(CurvePoint.candidate_id.in_(cand_ids)))
    s.execute(delete(Artefact).where(Artefact.candidate_id.in_(cand_ids)))
    s.execute(delete(Candidate).where(Candidate.search_id == search_id))
    s.execute(delete(StrategyState).where(StrategyState.search_id == search_id))
    s.execute(delete(Search).where(Search.id == search_id))
    return paths


# --- write paths used by the coordinator and the local sink -------------------------------------------------
def start_search(s: Session, search_id: int) -> Search:
    search = lock_search(s, search_id)
    if search.status == "queued":
        search.status, search.started_at = "running", utcnow()
        _touch_search(s, search)
    return search


def candidate_by_canonical(s: Session, search_id: int, canonical: str) -> Candidate:
    cand = s.execute(
        select(Candidate).where(Candidate.search_id == search_id, Candidate.canonical == canonical)
    ).scalar_one_or_none()
    if cand is None:
        raise NotFound(f"search {search_id} has no candidate with key {canonical!r}")
    return cand


def existing_canonicals(s: Session, search_id: int, keys: list[str] | None = None) -> set[str]:
    """Canonical keys already stored in a search (only among `keys` when given)."""
    query = select(Candidate.canonical).where(Candidate.search_id == search_id)
    if keys is not None:
        query = query.where(Candidate.canonical.in_(keys))
    return set(s.execute(query).scalars())


def add_candidates(
    s: Session,
    search_id: int,
    items: list[tuple[dict[str, Any], str, dict[str, Any] | None]],
    *,
    epochs: int | None = None,
) -> list[Candidate]:
    """Store queued candidates `(genome, canonical, origin)`; a canonical key already stored is skipped."""
    seen = existing_canonicals(s, search_id, [key for _, key, _ in items]) if items else set()
    added = []
    for genome, canonical, origin in items:
        if canonical in seen:
            continue
        seen.add(canonical)
        cand = Candidate(
            search_id=search_id,
            seq=_next_seq(s, search_id),
            genome=json_safe(genome),
            canonical=canonical,
            status="queued",
            metrics={},
            origin=json_safe(origin),
            epochs=epochs,
        )
        s.add(cand)
        added.append(cand)
    s.flush()
    return added


def mark_training(s: Session, candidate_id: int, worker: str | None = None) -> bool:
    """Queued → training without a lease (the local runner). False when it is already finished."""
    return take_lease(s, candidate_id, worker, None) is not None


def take_lease(
    s: Session,
    candidate_id: int,
    holder: str | None,
    lease_seconds: float | None,
    *,
    holder_gone: Callable[[str], bool] | None = None,
) -> int | None:
    """Start a new training attempt under a lease of `lease_seconds` (None: no lease); return the attempt
    number, the token its reports must show. None when the candidate is finished, or another attempt
    holds a live lease and `holder_gone` does not know its holder to be dead (a duplicate message)."""
    cand = s.get(Candidate, candidate_id, populate_existing=True)
    if cand is None:
        raise NotFound(f"candidate {candidate_id} not found")
    search = lock_search(s, cand.search_id)
    s.refresh(cand)
    if cand.status in TERMINAL_CANDIDATE:
        return None
    now = utcnow()
    if cand.status == "training":
        lease = _aware(cand.lease_expires_at)
        dead = bool(holder_gone and cand.worker and holder_gone(cand.worker))
        if lease is not None and lease > now and not dead:
            return None
        # A redelivery after a worker died continues from the dead attempt's last per-epoch state; its
        # curve past that point is dropped by the new attempt's first report (report_epoch).
    cand.status, cand.worker, cand.started_at = "training", holder, now
    cand.attempt = (cand.attempt or 0) + 1
    cand.lease_expires_at = None if lease_seconds is None else now + timedelta(seconds=lease_seconds)
    cand.seq = search.next_seq  # the value the lock just took: unique, and no extra round trip
    return cand.attempt


def _holds_lease(candidate_id: int, attempt: int) -> ColumnElement[bool]:
    return (Candidate.id == candidate_id) & (Candidate.attempt == attempt) & (Candidate.status == "training")


def renew_lease(s: Session, candidate_id: int, attempt: int, lease_seconds: float) -> bool:
    """Extend the lease of a live attempt (the heartbeat); False when the attempt lost it. Leaves the
    change cursor alone: nothing a viewer shows changed."""
    result = s.execute(
        update(Candidate)
        .where(_holds_lease(candidate_id, attempt))
        .values(lease_expires_at=utcnow() + timedelta(seconds=lease_seconds))
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def report_epoch(
    s: Session,
    candidate_id: int,
    attempt: int,
    epoch: int,
    metrics: dict[str, Any],
    lease_seconds: float,
    *,
    first: bool = False,
) -> bool:
    """Store one curve point of a leased attempt and renew its lease; False (nothing stored) when the
    attempt lost its lease: the candidate was requeued and the new attempt's curve is the one that counts.
    `first`: the attempt's first point. A lost attempt's points from this epoch on are dropped then: the
    new attempt continued from an earlier epoch (its last per-epoch checkpoint, or the start)."""
    search_id = s.execute(select(Candidate.search_id).where(Candidate.id == candidate_id)).scalar()
    if search_id is None:
        raise NotFound(f"candidate {candidate_id} not found")
    seq = _next_seq(s, search_id)  # the search row first, as every writer: no lock-order deadlock
    if not renew_lease(s, candidate_id, attempt, lease_seconds):
        return False
    if first:
        s.execute(delete(CurvePoint).where(CurvePoint.candidate_id == candidate_id, CurvePoint.epoch > epoch))
    add_curve_point(s, candidate_id, epoch, metrics)
    s.execute(
        update(Candidate)
        .where(Candidate.id == candidate_id)
        .values(seq=seq)
        .execution_options(synchronize_session=False)
    )
    return True


def expired_leases(s: Session, now: datetime) -> list[tuple[int, int]]:
    """(candidate, attempt) of every training candidate whose lease ran out before `now`."""
    rows = s.execute(
        select(Candidate.id, Candidate.attempt)
        .where(Candidate.status == "training", Candidate.lease_expires_at < now)
        .order_by(Candidate.id)
    ).all()
    return [(cid, attempt) for cid, attempt in rows]


def requeue_expired(s: Session, candidate_id: int, attempt: int, now: datetime) -> tuple[int, str] | None:
    """Training → queued for an attempt whose lease ran out (checked again under the search's lock, so
    a renewal or a second sweeper racing this one wins); returns (search id, search status), or None
    when nothing was requeued. A candidate of a search that ended meanwhile is cancelled instead."""
    search_id = s.execute(select(Candidate.search_id).where(Candidate.id == candidate_id)).scalar()
    if search_id is None:
        return None
    search = lock_search(s, search_id)
    expired = _holds_lease(candidate_id, attempt) & (Candidate.lease_expires_at < now)
    ended = search.status in TERMINAL_SEARCH
    # `started_at` marks the requeue: stalled_searches counts it as the search's latest activity.
    values: dict[str, Any] = {"status": "queued", "worker": None, "lease_expires_at": None, "started_at": now}
    if ended:
        values = {"status": "cancelled", "error": "its worker was lost after the search ended"}
        values.update(finished_at=now, lease_expires_at=None)
    result = s.execute(
        update(Candidate)
        .where(expired)
        .values(**values, seq=_next_seq(s, search_id))
        .execution_options(synchronize_session=False)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        return None
    # The lost attempt's curve stays: the new one continues from its last per-epoch checkpoint and drops
    # the points after that with its first report (report_epoch).
    _touch_search(s, search)
    return search_id, search.status


def stalled_searches(s: Session, quiet_since: datetime) -> list[int]:
    """Running (or queued) searches with no candidate training and nothing changed since `quiet_since`:
    their next step was lost (its worker died, or the broker lost the message). Local runs and searches
    in their final stage are not the coordinator's to advance."""
    training = select(Candidate.id).where(Candidate.search_id == Search.id, Candidate.status == "training")
    recent = select(Candidate.id).where(
        Candidate.search_id == Search.id,
        (Candidate.created_at >= quiet_since)
        | (Candidate.started_at >= quiet_since)
        | (Candidate.finished_at >= quiet_since),
    )
    stepped = select(StrategyState.search_id).where(
        StrategyState.search_id == Search.id, StrategyState.updated_at >= quiet_since
    )
    rows = s.execute(
        select(Search.id, Search.summary)
        .where(
            Search.status.in_(("queued", "running")),
            func.coalesce(Search.started_at, Search.created_at) < quiet_since,
            ~training.exists(),
            ~recent.exists(),
            ~stepped.exists(),
        )
        .order_by(Search.id)
    ).all()
    return [
        sid
        for sid, summary in rows
        if not (summary or {}).get("finalizing") and (summary or {}).get("executor") != "local"
    ]


def add_curve_point(s: Session, candidate_id: int, epoch: int, metrics: dict[str, Any]) -> None:
    existing = s.execute(
        select(CurvePoint).where(CurvePoint.candidate_id == candidate_id, CurvePoint.epoch == epoch)
    ).scalar_one_or_none()
    if existing is not None:
        existing.metrics = json_safe(metrics)
    else:
        s.add(CurvePoint(candidate_id=candidate_id, epoch=epoch, metrics=json_safe(metrics)))


def touch_candidate(s: Session, candidate_id: int) -> None:
    """Give a candidate a new change-cursor value (a curve point arrived), so pollers fetch it again."""
    cand = s.get(Candidate, candidate_id)
    if cand is None:
        raise NotFound(f"candidate {candidate_id} not found")
    cand.seq = _next_seq(s, cand.search_id)


def add_artefact(s: Session, candidate_id: int, format: str, path: str, size: int) -> None:
    row = s.execute(
        select(Artefact).where(Artefact.candidate_id == candidate_id, Artefact.format == format)
    ).scalar_one_or_none()
    if row is None:
        s.add(Artefact(candidate_id=candidate_id, format=format, path=path, size=size))
    else:
        row.path, row.size = path, size


def finish_candidate(
    s: Session,
    candidate_id: int,
    status: str,
    *,
    fitness: float | None = None,
    metrics: dict[str, Any] | None = None,
    error: str | None = None,
    artefacts: dict[str, tuple[str, int]] | None = None,
    attempt: int | None = None,
    holder: str | None = None,
) -> Candidate | None:
    """Record a candidate's outcome (a training job's end). None if it was already final, or `attempt`
    (a leased job's) no longer holds the lease, or `holder` is not the one training it. The search's best
    and progress are the lifecycle's, written by its next step (`set_search_progress`)."""
    if status not in TERMINAL_CANDIDATE:
        raise ValueError(f"status: {status!r} is not one of {', '.join(sorted(TERMINAL_CANDIDATE))}")
    cand = s.get(Candidate, candidate_id)
    if cand is None:
        raise NotFound(f"candidate {candidate_id} not found")
    search = lock_search(s, cand.search_id)
    s.refresh(cand)
    if cand.status in TERMINAL_CANDIDATE:
        return None
    if attempt is not None and (cand.status != "training" or cand.attempt != attempt):
        return None  # a stale attempt: the candidate was requeued when its lease ran out
    if holder is not None and cand.status == "training" and cand.worker != holder:
        return None  # another worker trains it now
    cand.lease_expires_at = None
    fitness = fitness if fitness is None or math.isfinite(fitness) else None
    cand.status, cand.fitness, cand.error, cand.finished_at = status, fitness, error, utcnow()
    cand.metrics = json_safe(metrics or {})
    if cand.started_at is None:
        cand.started_at = cand.finished_at
    for fmt, (path, size) in (artefacts or {}).items():
        add_artefact(s, candidate_id, fmt, path, size)
    cand.seq = _next_seq(s, search.id)
    _touch_search(s, search)
    return cand


def save_strategy_state(s: Session, search_id: int, state: dict[str, Any]) -> None:
    """Store (insert or replace) the search's strategy state in its own table; the search row is untouched.
    As before the state had its own table, nothing is stored for a search that does not exist (deleted)."""
    insert = pg_insert if s.get_bind().dialect.name == "postgresql" else sqlite_insert
    row = select(
        Search.id, literal(state, StrategyState.state.type), literal(utcnow(), StrategyState.updated_at.type)
    ).where(Search.id == search_id)
    stmt = insert(StrategyState).from_select(["search_id", "state", "updated_at"], row)
    s.execute(  # state made JSON-safe by the engine serializer
        stmt.on_conflict_do_update(
            index_elements=["search_id"],
            set_={"state": stmt.excluded.state, "updated_at": stmt.excluded.updated_at},
        )
    )
    # A state (or its absence) read earlier in this session would now be stale.
    loaded = s.identity_map.get(s.identity_key(StrategyState, search_id))
    if loaded is not None:
        s.expire(loaded)
    search = s.identity_map.get(s.identity_key(Search, search_id))
    if search is not None:
        s.expire(search, ["state_row"])


def load_strategy_state(s: Session, search_id: int) -> dict[str, Any] | None:
    """The search's saved strategy state, or None if none was saved yet (reads only its own table)."""
    return s.execute(select(StrategyState.state).where(StrategyState.search_id == search_id)).scalar()


def finish_search(
    s: Session,
    search_id: int,
    status: str,
    *,
    error: str | None = None,
    summary: dict[str, Any] | None = None,
) -> Search:
    """Mark a search completed / failed / cancelled, with its final summary (final training, stop reason)."""
    if status not in TERMINAL_SEARCH:
        raise ValueError(f"status: {status!r} is not one of {', '.join(sorted(TERMINAL_SEARCH))}")
    search = lock_search(s, search_id)
    if search.status != "cancelled":  # a cancel wins over a completion racing it
        search.status = status
    search.error = error if error is not None else search.error
    search.summary = json_safe({**(search.summary or {}), **(summary or {})})
    search.finished_at = search.finished_at or utcnow()
    if status == "completed":
        search.progress = 1.0
    _touch_search(s, search)
    return search


# --- the final stage's lease ------------------------------------------------------------------------------
# A search in its final stage (`summary.finalizing`) holds a lease in its summary, like a training
# candidate: set when the step dispatches the final task (covering the message in flight), taken over and
# renewed by the task's heartbeat. One that runs out (the worker died, the message was lost) is
# dispatched again by the sweeper.


def _stamp(when: datetime) -> str:
    """A sortable UTC text stamp (the lease lives in the summary's JSON)."""
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    return when.astimezone(UTC).isoformat(timespec="microseconds")


def _until(seconds: float, now: datetime | None = None) -> str:
    return _stamp((now or utcnow()) + timedelta(seconds=seconds))


def start_final(s: Session, search_id: int, seconds: float) -> None:
    """Mark the search as in its final stage, its task dispatched and leased for `seconds`."""
    update_summary(
        s, search_id, {"finalizing": True, "final_lease_until": _until(seconds), "final_holder": None}
    )


def take_final(s: Session, search_id: int, holder: str, seconds: float) -> bool:
    """Hold the final stage for `holder`: False while another live holder has it."""
    search = lock_search(s, search_id)
    summary = search.summary or {}
    current, until = summary.get("final_holder"), summary.get("final_lease_until")
    if current not in (None, holder) and until and until > _stamp(utcnow()):
        return False
    search.summary = json_safe({**summary, "final_holder": holder, "final_lease_until": _until(seconds)})
    return True


def renew_final(s: Session, search_id: int, holder: str, seconds: float) -> bool:
    search = lock_search(s, search_id)
    summary = search.summary or {}
    if not summary.get("finalizing") or summary.get("final_holder") != holder:
        return False
    search.summary = json_safe({**summary, "final_lease_until": _until(seconds)})
    return True


def lost_finals(s: Session, now: datetime) -> list[int]:
    """Running searches whose final stage's lease ran out (its worker died, or its message was lost)."""
    rows = s.execute(
        select(Search.id, Search.summary).where(Search.status == "running").order_by(Search.id)
    ).all()
    stamp = _stamp(now)
    return [
        sid
        for sid, summary in rows
        if (summary or {}).get("finalizing") and ((summary or {}).get("final_lease_until") or "") < stamp
    ]


def retry_final(s: Session, search_id: int, now: datetime, seconds: float) -> bool:
    """Re-check under the search's lock that its final lease is still lost, then lease the new dispatch."""
    search = lock_search(s, search_id)
    summary = search.summary or {}
    if search.status != "running" or not summary.get("finalizing"):
        return False
    if (summary.get("final_lease_until") or "") >= _stamp(now):
        return False
    search.summary = json_safe({**summary, "final_holder": None, "final_lease_until": _until(seconds, now)})
    return True


def update_summary(s: Session, search_id: int, summary: dict[str, Any]) -> None:
    search = lock_search(s, search_id)
    search.summary = json_safe({**(search.summary or {}), **summary})
    _touch_search(s, search)


# --- reads for the API ---
def count_searches_by_status(s: Session) -> dict[str, int]:
    rows = s.execute(select(Search.status, func.count(Search.id)).group_by(Search.status)).all()
    return {status: int(n) for status, n in rows}


def count_candidates_by_status(s: Session) -> dict[str, int]:
    rows = s.execute(select(Candidate.status, func.count(Candidate.id)).group_by(Candidate.status)).all()
    return {status: int(n) for status, n in rows}


def candidate_durations(s: Session) -> list[float]:
    """Seconds from start to finish of every finished candidate (for the /metrics histogram)."""
    rows = s.execute(
        select(Candidate.started_at, Candidate.finished_at).where(
            Candidate.started_at.is_not(None), Candidate.finished_at.is_not(None)
        )
    ).all()
    return [max(0.0, (end - start).total_seconds()) for start, end in rows]


def started_rows(s: Session, search_id: int, limit: int) -> tuple[list[Any], bool]:
    """The timeline's rows: candidates a worker took (training, or finished after training), the
    `limit` latest by start, oldest first, and whether older ones were left out. A queued row is left
    out even with a worker set: it waits for a promotion or a retry, and its old start is no longer
    current. Genomes come as stored text, decoded only when a label is not cached."""
    get_search(s, search_id)
    rows = list(
        s.execute(
            select(
                Candidate.id,
                Candidate.canonical,
                cast(Candidate.genome, Text).label("genome_json"),
                Candidate.status,
                Candidate.worker,
                Candidate.attempt,
                Candidate.created_at,
                Candidate.started_at,
                Candidate.finished_at,
            )
            .where(
                Candidate.search_id == search_id,
                Candidate.worker.is_not(None),
                Candidate.started_at.is_not(None),
                Candidate.status != "queued",
            )
            .order_by(Candidate.started_at.desc(), Candidate.id.desc())
            .limit(limit + 1)
        ).all()
    )
    return rows[:limit][::-1], len(rows) > limit


# Enough of an error to tell its kind: a long traceback is not read whole for every failed candidate.
ERROR_HEAD_CHARS = 2000


def failed_errors(s: Session, search_id: int, limit: int) -> tuple[list[tuple[int, str | None]], bool]:
    """(id, first ERROR_HEAD_CHARS of the error) of the `limit` latest failed candidates, newest first,
    and whether older ones were left out."""
    get_search(s, search_id)
    rows = s.execute(
        select(Candidate.id, func.substr(Candidate.error, 1, ERROR_HEAD_CHARS))
        .where(Candidate.search_id == search_id, Candidate.status == "failed")
        .order_by(Candidate.id.desc())
        .limit(limit + 1)
    ).all()
    return [(int(cid), error) for cid, error in rows[:limit]], len(rows) > limit


def candidate_rows_after(s: Session, search_id: int, after: int, limit: int) -> list[Any]:
    """`candidates_after` for the hot polling path: only the summary columns, with the JSON columns
    (genome, metrics, origin) as their stored text, so the API can splice them into its answer instead of
    decoding and re-encoding ~300 documents per page."""
    return list(
        s.execute(
            select(
                Candidate.id,
                Candidate.seq,
                Candidate.status,
                cast(Candidate.genome, Text).label("genome_json"),
                Candidate.fitness,
                cast(Candidate.metrics, Text).label("metrics_json"),
                Candidate.error,
                Candidate.created_at,
                Candidate.finished_at,
                cast(Candidate.origin, Text).label("origin_json"),
                Candidate.canonical,
                Candidate.rung,
                Candidate.epochs,
            )
            .where(Candidate.search_id == search_id, Candidate.seq > after)
            .order_by(Candidate.seq)
            .limit(limit)
        ).all()
    )


def fitness_of(s: Session, candidate_ids: list[int]) -> dict[int, float | None]:
    """Fitness of several candidates at once (the best of each search in a list page)."""
    if not candidate_ids:
        return {}
    rows = s.execute(select(Candidate.id, Candidate.fitness).where(Candidate.id.in_(candidate_ids))).all()
    return {cid: fitness for cid, fitness in rows}


def ping(s: Session) -> None:
    """Raise if the database does not answer (health check)."""
    s.execute(select(1)).scalar_one()


def search_head(s: Session, search_id: int) -> int:
    """The search's change counter: any change to it or its candidates moves it (cheap "anything new?")."""
    value = s.execute(select(Search.next_seq).where(Search.id == search_id)).scalar_one_or_none()
    if value is None:
        raise NotFound(f"search {search_id} not found")
    return int(value)


# --- the search lifecycle (worker.nas.lifecycle) on this database -----------------------------------------
def _checkpoints(s: Session, candidate_ids: list[int] | None, search_id: int) -> dict[int, str]:
    query = select(Artefact.candidate_id, Artefact.path).where(Artefact.format == "checkpoint")
    if candidate_ids is None:
        query = query.join(Candidate, Candidate.id == Artefact.candidate_id).where(
            Candidate.search_id == search_id
        )
    else:
        query = query.where(Artefact.candidate_id.in_(candidate_ids))
    return {cid: path for cid, path in s.execute(query).all()}


def row_result(cand: Candidate) -> Any:
    """The outcome a candidate's row holds (a job's end, as its worker stored it); None before any."""
    from worker.nas.types import Result

    if cand.status not in TERMINAL_CANDIDATE and not cand.metrics:
        return None
    status = "failed" if cand.status == "cancelled" else cand.status
    return Result(
        status if status in ("done", "failed", "infeasible") else "failed",
        cand.fitness,
        dict(cand.metrics or {}),
        cand.error,
    )


def trial_of(cand: Candidate, checkpoint: str | None) -> Any:
    """The lifecycle's view of a row: the status it last saw (the row's own status and result may be newer,
    which the caller turns into an event), its rung scores and told result. While a promotion is pending,
    its result is the one the promotion would fall back to."""
    from worker.nas.lifecycle import BUSY, Kept, Trial
    from worker.nas.types import Result

    rec = cand.lifecycle or {}
    told = rec.get("told_result")
    status = rec.get("status", cand.status)
    kept = Kept.of(rec.get("kept"))
    return Trial(
        cid=cand.id,
        genome=cand.genome,
        key=cand.canonical,
        origin=dict(cand.origin or {}),
        status=status,
        rung=cand.rung,
        epochs=cand.epochs,
        result=kept.result if kept is not None and status in BUSY else row_result(cand),
        checkpoint=checkpoint,
        told=cand.told,
        told_result=Result(**told) if told else None,
        rung_scores=list(rec.get("rung_scores", [])),
        start_rung=int(rec.get("start_rung", 0)),
        predicted=dict(rec.get("predicted") or {}),
        kept=kept,
    )


def search_trials(s: Session, search_id: int) -> list[tuple[Any, str, Any]]:
    """Every candidate of a search as (lifecycle trial, row status, row result), in creation order (a cold
    start)."""
    rows = s.execute(
        select(Candidate).where(Candidate.search_id == search_id).order_by(Candidate.id)
    ).scalars()
    ckpts = _checkpoints(s, None, search_id)
    return [(trial_of(c, ckpts.get(c.id)), c.status, row_result(c)) for c in rows]


def trials_changed_since(s: Session, search_id: int, seq: int) -> list[tuple[Any, str, Any]]:
    """(trial, row status, row result) of the candidates changed after change-cursor `seq` (a warm step
    reads these)."""
    rows = list(
        s.execute(
            select(Candidate)
            .where(Candidate.search_id == search_id, Candidate.seq > seq)
            .order_by(Candidate.seq)
        ).scalars()
    )
    ckpts = _checkpoints(s, [c.id for c in rows], search_id) if rows else {}
    return [(trial_of(c, ckpts.get(c.id)), c.status, row_result(c)) for c in rows]


def _write_trial(s: Session, cand: Candidate, trial: Any) -> None:
    result = trial.result
    cand.status, cand.rung, cand.epochs, cand.told = trial.status, trial.rung, trial.epochs, trial.told
    cand.lifecycle = json_safe({**trial.record(), "status": trial.status})
    if result is not None:
        fitness = result.fitness if result.fitness is None or math.isfinite(result.fitness) else None
        cand.fitness, cand.metrics, cand.error = fitness, json_safe(result.metrics), result.error
    if trial.status in TERMINAL_CANDIDATE:
        cand.finished_at = cand.finished_at or utcnow()
        cand.started_at = cand.started_at or cand.finished_at
    elif trial.status == "queued":
        cand.finished_at = None


def insert_trial(s: Session, search_id: int, trial: Any) -> int:
    """Store a new candidate as the lifecycle made it (queued, or infeasible with its reason)."""
    cand = Candidate(
        search_id=search_id,
        seq=_next_seq(s, search_id),
        genome=json_safe(trial.genome),
        canonical=trial.key,
        origin=json_safe(trial.origin),
        metrics={},
    )
    _write_trial(s, cand, trial)
    s.add(cand)
    s.flush()
    return cand.id


def update_trial(s: Session, trial: Any) -> None:
    cand = s.get(Candidate, trial.cid)
    if cand is None:
        raise NotFound(f"candidate {trial.cid} not found")
    _write_trial(s, cand, trial)
    if trial.checkpoint:
        add_artefact(
            s,
            cand.id,
            "checkpoint",
            trial.checkpoint,
            os.path.getsize(trial.checkpoint) if os.path.exists(trial.checkpoint) else 0,
        )
    cand.seq = _next_seq(s, cand.search_id)


def set_search_progress(
    s: Session, search_id: int, best_id: int | None, progress: float, stop_reason: str | None
) -> None:
    """The lifecycle's view of the search after a step: its best candidate, progress and stop reason."""
    search = lock_search(s, search_id)
    changed = (search.best_candidate_id, round(search.progress, 6)) != (best_id, round(progress, 6))
    search.best_candidate_id, search.progress = best_id, progress
    if stop_reason and (search.summary or {}).get("stop_reason") != stop_reason:
        search.summary = json_safe({**(search.summary or {}), "stop_reason": stop_reason})
        changed = True
    if changed:
        _touch_search(s, search)


def count_told(s: Session, search_id: int) -> int:
    query = select(func.count()).where(Candidate.search_id == search_id, Candidate.told.is_not(None))
    return int(s.execute(query).scalar_one())


# --- tokens (API authentication; see backend/api/security.py) ---------------------------------------------
TOKEN_TOUCH_SECONDS = 60.0  # last_used_at is refreshed at most this often: reads must not all write


class TokenExists(ValueError):
    """A token with that name exists already."""


def hash_token(token: str) -> str:
    # A plain digest suffices: tokens are 256-bit random, so there is nothing to brute-force or salt.
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(s: Session, name: str) -> str:
    """Store a new token under `name`; returns the token itself, which is never stored or shown again."""
    if s.execute(select(ApiToken.id).where(ApiToken.name == name)).first() is not None:
        raise TokenExists(f"a token named {name!r} exists already (revoke it first)")
    # A fixed prefix: never read as a command-line option (`--token -x...`), and easy to spot in a leak.
    token = "nasb_" + secrets.token_urlsafe(32)
    s.add(ApiToken(name=name, token_hash=hash_token(token)))
    s.flush()
    return token


def list_tokens(s: Session) -> list[ApiToken]:
    return list(s.scalars(select(ApiToken).order_by(ApiToken.name)))


def revoke_token(s: Session, name: str) -> None:
    if s.execute(delete(ApiToken).where(ApiToken.name == name)).rowcount == 0:
        raise NotFound(f"no token named {name!r}")


def token_name(s: Session, token: str) -> tuple[str, bool] | None:
    """(name, whether last_used_at is stale) of the token, or None when it is unknown or revoked."""
    row = s.execute(
        select(ApiToken.name, ApiToken.last_used_at).where(ApiToken.token_hash == hash_token(token))
    ).first()
    if row is None:
        return None
    last = row.last_used_at
    if last is not None and last.tzinfo is None:  # SQLite returns naive datetimes
        last = last.replace(tzinfo=UTC)
    return row.name, last is None or (utcnow() - last).total_seconds() > TOKEN_TOUCH_SECONDS


def touch_token(s: Session, name: str) -> None:
    s.execute(update(ApiToken).where(ApiToken.name == name).values(last_used_at=utcnow()))


def scored_genomes(s: Session, search_id: int) -> list[tuple[int, dict[str, Any]]]:
    """(id, genome) of every done candidate with a fitness, by id: the lines of parallel coordinates."""
    get_search(s, search_id)
    rows = s.execute(select(Candidate.id, Candidate.genome).where(_scored(search_id)).order_by(Candidate.id))
    return [(cid, genome) for cid, genome in rows]
