"""Turn stored rows into response dicts; builds the search space (lazily, cached) for labels and graphs.

Serialising is on the hot path of every poll, so summaries are plain dicts validated once by FastAPI's
response model rather than ORM objects walked twice.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from backend.db.models import Candidate, Search

# Input shape per dataset, so layer-space diagrams show the real tensor shapes (npz: shape unknown here).
DATASET_SHAPES: dict[str, tuple[int, int, int]] = {
    "fashion-mnist": (1, 28, 28),
    "mnist": (1, 28, 28),
    "digits": (1, 8, 8),
    "cifar10": (3, 32, 32),
}


def utc(ts: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; every stored time is UTC, so say so in the JSON."""
    return ts if ts is None or ts.tzinfo else ts.replace(tzinfo=UTC)


@lru_cache(maxsize=64)
def _space(space_json: str, dataset: str, sections_json: str) -> Any:
    from worker.nas.registry import space_class
    from worker.nas.spaces.recipe import searched_fields, with_recipe
    from worker.nas.types import TaskShape

    section = json.loads(space_json)
    cls = space_class(section.pop("type", "layers"))
    task = TaskShape(input_shape=DATASET_SHAPES.get(dataset, (1, 28, 28)))
    training, data = json.loads(sections_json)
    # A searched recipe is part of the genome: the same space the engine built (worker.nas.factory).
    return with_recipe(cls(cls.Options.model_validate(section), task), searched_fields(training, data))


@lru_cache(maxsize=8)
def _table_space(spec_json: str) -> Any:
    from worker.nas.factory import make_space
    from worker.nas.spec import parse_spec

    return make_space(parse_spec(json.loads(spec_json)))


def space_for(spec: dict[str, Any]) -> Any | None:
    """The search's space object, or None when its plugin cannot be loaded in this process."""
    try:
        data = spec.get("dataset") or {}
        if data.get("name") == "table":  # built from the table's rows (read once per process)
            return _table_space(json.dumps(spec, sort_keys=True))
        sections = json.dumps([spec.get("training") or {}, data], sort_keys=True)
        space_json = json.dumps(spec.get("space") or {"type": "layers"}, sort_keys=True)
        return _space(space_json, str(data.get("name", "digits")), sections)
    except Exception:
        return None


# describe() costs ~0.15 ms for a layers genome: enough to dominate a 500-item page, so labels are
# memoised by (space class, canonical key), which determines the network and therefore its label.
_LABELS: dict[tuple[str, str], str] = {}
_MAX_LABELS = 200_000


def label_of(space: Any | None, cand: Any) -> str:
    return _label(space, cand.canonical, lambda: cand.genome)


def _label(space: Any | None, canonical: str, genome: Callable[[], Any]) -> str:
    if space is None:
        return canonical
    key = (type(space).__name__, canonical)
    label = _LABELS.get(key)
    if label is None:
        try:
            label = str(space.describe(genome()))
        except Exception:
            label = canonical
        if len(_LABELS) >= _MAX_LABELS:
            _LABELS.clear()
        _LABELS[key] = label
    return label


def row_label(space: Any | None, canonical: str, genome_json: str) -> str:
    """`label_of` for a row that carries its genome as stored text (decoded only on a cache miss)."""
    return _label(space, canonical, lambda: json.loads(genome_json))


def candidate_summary(cand: Candidate, space: Any | None) -> dict[str, Any]:
    return {
        "id": cand.id,
        "seq": cand.seq,
        "status": cand.status,
        "genome": cand.genome,
        "fitness": cand.fitness,
        "metrics": cand.metrics or {},
        "error": cand.error,
        "created_at": utc(cand.created_at),
        "finished_at": utc(cand.finished_at),
        "origin": cand.origin,
        "label": label_of(space, cand),
        "rung": cand.rung or 0,
        "epochs": cand.epochs,
    }


def rung_history(cand: Candidate) -> list[dict[str, Any]]:
    """The fitness the candidate reached at each rung it trained to (multi-fidelity schedules): the first
    is where it started, each further one a promotion."""
    record = cand.lifecycle or {}
    start = int(record.get("start_rung") or 0)
    return [{"rung": start + i, "fitness": f} for i, f in enumerate(record.get("rung_scores") or [])]


def search_list_item(search: Search, best_fitness: float | None) -> dict[str, Any]:
    spec = search.spec or {}
    return {
        "id": search.id,
        "name": search.name,
        "status": search.status,
        "progress": search.progress or 0.0,
        "space": (spec.get("space") or {}).get("type"),
        "strategy": (spec.get("strategy") or {}).get("type"),
        "dataset": (spec.get("dataset") or {}).get("name"),
        "best_fitness": best_fitness,
        "best_candidate_id": search.best_candidate_id,
        "created_at": utc(search.created_at),
        "started_at": utc(search.started_at),
        "finished_at": utc(search.finished_at),
        "created_by": search.created_by,
        "group_id": search.group_id,
    }


def search_detail(search: Search, summary: dict[str, Any]) -> dict[str, Any]:
    timings = summary.get("timings") or {}
    return {
        "id": search.id,
        "name": search.name,
        "spec": search.spec,
        "status": search.status,
        "progress": search.progress or 0.0,
        "n_candidates": summary["n_candidates"],
        "n_done": summary["n_done"],
        "n_failed": summary["n_failed"],
        "best": summary.get("best"),
        "created_at": utc(timings.get("created_at") or search.created_at),
        "started_at": utc(timings.get("started_at") or search.started_at),
        "finished_at": utc(timings.get("finished_at") or search.finished_at),
        "elapsed_seconds": timings.get("elapsed_seconds"),
        "eta_seconds": timings.get("eta_seconds"),
        "error": search.error,
        "seq": search.seq,
        "created_by": search.created_by,
        "group_id": search.group_id,
        "result": search_result(search),
    }


# The final stage's figures a finished search reports (worker.nas.final_stage writes them to the summary).
RESULT_METRICS = ("test_accuracy", "test_accuracy_std", "val_accuracy", "params", "flops", "latency_ms")
# ... and its figures as deployed (worker.nas.final_stage.deployment_figures), shown as the engine wrote them.
DEPLOYMENT_FIELDS = (
    "latency_ms_ort",
    "int8_accuracy",
    "latency_ms_int8",
    "int8_speedup",
    "size_bytes_int8",
    "size_bytes_fp32",
    "int8_method",
    "int8_error",
    "cpu_features",
    "int8_units",
)


def search_result(search: Search) -> dict[str, Any] | None:
    """What the search handed back: the network the final stage picked, its test figures, its final
    training and where the time went. None until the final stage has run."""
    summary = search.summary or {}
    best = summary.get("best")
    if not best or summary.get("finalizing"):
        return None
    space = space_for(search.spec or {})
    label = None
    if space is not None and best.get("genome") is not None:
        try:
            label = str(space.describe(best["genome"]))
        except Exception:  # a genome the current space cannot describe still has its figures
            label = None
    finals = summary.get("final") or []
    final = next((f for f in finals if f.get("candidate_id") == best.get("candidate_id")), {})
    return {
        "candidate_id": best.get("candidate_id"),
        "label": label,
        **{k: best.get(k) for k in RESULT_METRICS},
        **{k: best.get(k) for k in DEPLOYMENT_FIELDS},
        "search_epochs": best.get("epochs"),
        "final_epochs": final.get("epochs"),
        "repeats": len(final.get("runs") or []),
        "retrained": [
            {k: f.get(k) for k in ("candidate_id", "epochs", "test_accuracy", "test_accuracy_std")}
            for f in finals
        ],
        "stop_reason": summary.get("stop_reason"),
        "search_seconds": summary.get("search_seconds"),
        "final_seconds": summary.get("final_seconds"),
        "wall_seconds": summary.get("wall_seconds"),
        "final_error": summary.get("final_error"),
        "artefacts": sorted(summary.get("artefacts") or {}),
        "table": summary.get("table"),
    }


# --- the polling hot path: a candidates page written straight to JSON -------------------------------------
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _ts(value: datetime | None) -> str:
    return "null" if value is None else '"' + utc(value).isoformat().replace("+00:00", "Z") + '"'


def _num(value: float | None) -> str:
    return "null" if value is None or not math.isfinite(value) else repr(float(value))  # NaN is not JSON


# Fields a candidates page can leave out (`?fields=`); id, seq, status, rung, epochs, fitness always go.
OPTIONAL_FIELDS = ("genome", "metrics", "error", "created_at", "finished_at", "origin", "label")


def candidate_page_json(
    rows: list[Any], space: Any | None, next_after: int, fields: frozenset[str] = frozenset(OPTIONAL_FIELDS)
) -> bytes:
    """The `CandidatePage` document for rows from `repository.candidate_rows_after`. The stored JSON of
    genome/metrics/origin is spliced in as is (it was written by json.dumps, NaN-free): decoding and
    re-encoding it was most of a page's cost. Equality with the model-validated form is unit-tested.
    `fields` picks the optional members; the dashboard's first read leaves out the genomes (about half
    the bytes of a `layers` search) and fetches them only when the user filters by architecture."""
    parts = [
        (name, fn)
        for name, fn in (
            ("genome", lambda r: r.genome_json),
            ("fitness", lambda r: _num(r.fitness)),
            ("metrics", lambda r: r.metrics_json or "{}"),
            ("error", lambda r: _dumps(r.error)),
            ("created_at", lambda r: _ts(r.created_at)),
            ("finished_at", lambda r: _ts(r.finished_at)),
            ("origin", lambda r: r.origin_json or "null"),
            ("label", lambda r: _dumps(_label(space, r.canonical, lambda r=r: json.loads(r.genome_json)))),
        )
        if name == "fitness" or name in fields
    ]
    items = []
    for r in rows:
        body = ",".join(f'"{name}":{fn(r)}' for name, fn in parts)
        items.append(
            f'{{"id":{r.id},"seq":{r.seq},"status":{_dumps(r.status)},"rung":{int(r.rung or 0)},'
            f'"epochs":{"null" if r.epochs is None else int(r.epochs)},{body}}}'
        )
    return f'{{"items":[{",".join(items)}],"next_after":{int(next_after)}}}'.encode()
