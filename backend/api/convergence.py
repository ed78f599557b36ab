"""Hypervolume over evaluations of a multi-objective search (worker/nas/convergence.py computes it)."""

from __future__ import annotations

import math
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from backend.api.deps import ReadSession
from backend.api.params import SearchId
from backend.api.schemas import INVALID, NOT_FOUND, FieldError, Hypervolume
from backend.db import repository
from worker.nas.convergence import Evaluation, hypervolume_curves, steps
from worker.nas.objectives import REFERENCE_RULE, Objective
from worker.nas.spec import parse_spec

router = APIRouter(prefix="/api/searches", tags=["searches"])

RULE = f"{REFERENCE_RULE}, over every feasible finished candidate"
GIVEN = "given with ?ref="


def objective_of(spec: dict[str, Any]) -> Objective:
    return Objective.from_spec(parse_spec(spec))


def as_evaluations(rows: list[tuple[str, float | None, dict[str, Any] | None]]) -> list[Evaluation]:
    return [Evaluation(*row) for row in rows]


def parse_reference(text: str, objective: Objective) -> list[float] | FieldError:
    """`ref=` in the metrics' own units, one per objective, oriented as the engine counts."""
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        values = []
    if len(values) != len(objective.terms) or not all(math.isfinite(v) for v in values):
        return FieldError(
            field="query.ref",
            message=f"need {len(objective.terms)} finite numbers, comma-separated: one per objective "
            f"({', '.join(objective.names)}), in the metric's own units",
        )
    return [t.oriented(v) for t, v in zip(objective.terms, values, strict=True)]


def hypervolume_answer(
    objective: Objective, evaluations: list[Evaluation], reference: list[float] | None, rule: str
) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "objectives": objective.names,
        "goals": [t.goal for t in objective.terms],
        "reference": None,
        "reference_rule": rule,
        "n_evaluations": len(evaluations),
        "points": [],
        "reason": None,
    }
    if not objective.multi:
        return {**answer, "reason": "a single objective: its curve is the best fitness so far"}
    [curve], ref = hypervolume_curves(objective, [evaluations], reference)
    if ref is None:
        return {**answer, "reason": "no feasible finished candidate yet"}
    natural = [t.natural(float(r)) for t, r in zip(objective.terms, ref, strict=True)]
    points = [{"evaluation": i, "hypervolume": v} for i, v in steps(curve)]
    return {**answer, "reference": natural, "points": points}


@router.get("/{search_id}/hypervolume", response_model=Hypervolume, responses={**NOT_FOUND, **INVALID})
def search_hypervolume(
    search_id: SearchId,
    session: ReadSession,
    ref: Annotated[
        str | None,
        Query(
            max_length=1000,
            description="reference point, one value per objective in its own units, e.g. `0.5,2000000` "
            "for val_accuracy and params (default: the worst of each objective, 1% of its range beyond)",
        ),
    ] = None,
    *,
    request: Request,
) -> dict[str, Any] | JSONResponse:
    """Hypervolume of the Pareto front of the first n finished candidates, for every n (evaluation
    order: as they finished), against a stated reference point."""
    search = repository.get_search(session, search_id)
    objective = objective_of(search.spec)
    reference = None
    if ref is not None:
        parsed = parse_reference(ref, objective)
        if isinstance(parsed, FieldError):
            return JSONResponse({"detail": [parsed.model_dump()]}, status_code=422)
        reference = parsed

    def compute() -> dict[str, Any]:
        evaluations = as_evaluations(repository.evaluations(session, search_id))
        return hypervolume_answer(objective, evaluations, reference, GIVEN if ref is not None else RULE)

    # Kept until the search changes at all (its change counter moves): an ended search's curve is read
    # once, however many viewers poll it.
    cache = request.app.state.hypervolumes
    return cache.get_or_compute((search_id, ref), (search.created_at, search.next_seq), compute)
