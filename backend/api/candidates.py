"""One candidate: genome, diagram, metrics, curve, and its model files."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

from backend.api import views
from backend.api.deps import ReadSession, SettingsDep
from backend.api.params import CandidateId
from backend.api.schemas import NOT_FOUND, CandidateDetail, Message
from backend.db import repository

router = APIRouter(prefix="/api/candidates", tags=["candidates"])

ModelFormat = Literal["onnx", "torchscript", "state_dict", "card", "onnx_int8", "card_int8"]
# File name suffix and media type per artefact format.
FORMATS: dict[str, tuple[str, str]] = {
    "onnx": (".onnx", "application/octet-stream"),
    "torchscript": (".pt", "application/octet-stream"),
    "state_dict": (".pth", "application/octet-stream"),
    "card": (".json", "application/json"),
    "onnx_int8": (".int8.onnx", "application/octet-stream"),
    "card_int8": (".int8.json", "application/json"),
}


@router.get("/{candidate_id}", response_model=CandidateDetail, responses=NOT_FOUND)
def get_candidate(candidate_id: CandidateId, session: ReadSession) -> dict[str, Any]:
    cand = repository.get_candidate(session, candidate_id)
    space = views.space_for(repository.get_search(session, cand.search_id).spec)
    graph = None
    if space is not None:
        try:
            graph = space.to_graph(cand.genome)
        except Exception:  # a genome from an older space version: show the rest without a diagram
            graph = None
    return {
        **views.candidate_summary(cand, space),
        "search_id": cand.search_id,
        "graph": graph,
        "curve": [{"epoch": p.epoch, **p.metrics} for p in cand.curve],
        "rungs": views.rung_history(cand),
        "worker": cand.worker,
        "started_at": views.utc(cand.started_at),
        # Only what /model serves (training checkpoints stay internal).
        "artefacts": sorted(a.format for a in cand.artefacts if a.format in FORMATS),
    }


@router.get(
    "/{candidate_id}/model",
    response_class=FileResponse,
    responses={404: {"model": Message, "description": "no such candidate, or no such file"}},
)
def download_model(
    candidate_id: CandidateId, session: ReadSession, settings: SettingsDep, format: ModelFormat = "onnx"
) -> FileResponse:
    repository.get_candidate(session, candidate_id)
    stored = repository.artefact_path(session, candidate_id, format)
    if stored is None:
        have = repository.artefact_formats(session, candidate_id)
        raise HTTPException(
            404, f"candidate {candidate_id} has no {format} artefact; available: {', '.join(have) or 'none'}"
        )
    path = Path(stored)
    if not path.is_absolute():
        path = Path(settings.artefact_dir) / path
    if not path.is_file():
        raise HTTPException(404, f"the {format} file of candidate {candidate_id} is missing from storage")
    suffix, media = FORMATS[format]
    return FileResponse(path, media_type=media, filename=f"candidate-{candidate_id}{suffix}")
